"""train/: tokenizer, packing, model, trainer, checkpoints, evaluation (CPU, tiny preset)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from train.data import SequencePacker, buffer_shuffle
from train.evaluate import (
    bits_per_byte,
    generate_samples,
    generation_metrics,
    matched_tokens,
    memorization_rate,
    split_document,
)
from train.model import GPT, preset_config
from train.tokenizer import SHIPPED_PATH, BPETokenizer, load_tokenizer, train_bpe
from train.trainer import (
    CheckpointError,
    TrainConfig,
    load_checkpoint,
    pick_device,
    save_checkpoint,
    train,
)

CORPUS = [
    "The river runs past the old mill and under the stone bridge before it reaches the sea.",
    "A careful cook tastes the soup, adds a pinch of salt, and lets it simmer for an hour.",
    "Children played in the park until the sun went down and the street lamps came on.",
    "The committee will publish its report on water quality in the spring of next year.",
    "Fresh bread from the bakery on the corner sells out before nine every morning.",
    "Ünïcödé text — naïve café, 東京, emoji 🙂 — must survive a round trip.",
] * 4

# a tiny, fast setting for hermetic tests: 4 steps of 4 x 64 tokens
TINY = TrainConfig(preset="tiny", token_budget=4 * 4 * 64, batch_size=4, lr=5e-3, log_every=1, device="cpu")


@pytest.fixture(scope="module")
def tok() -> BPETokenizer:
    return train_bpe(CORPUS, vocab_size=300)


def corpus_factory():
    return lambda: iter(CORPUS)


# --- tokenizer -------------------------------------------------------------------------


def test_tokenizer_round_trips_any_text_and_keeps_eot_out_of_band(tok: BPETokenizer) -> None:
    for s in ["", "plain words", "  spaces\tand\nnewlines  ", "naïve 東京 🙂 \x00 \ufffd", "<|endoftext|>"]:
        assert tok.decode(tok.encode(s)) == s
    assert tok.eot_id == tok.vocab_size - 1
    # a document that contains the literal marker must not produce the control id
    assert tok.eot_id not in tok.encode("before <|endoftext|> after")
    assert tok.decode([*tok.encode("a"), tok.eot_id, *tok.encode("b")]) == "ab"


def test_bpe_training_is_deterministic_and_names_the_tokenizer(tok: BPETokenizer, tmp_path: Path) -> None:
    again = train_bpe(CORPUS, vocab_size=300)
    assert again.name == tok.name and again.vocab_size == 300
    assert train_bpe(CORPUS[:3], vocab_size=300).name != tok.name
    tok.save(tmp_path / "t.json")
    assert load_tokenizer(tmp_path / "t.json").name == tok.name
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_tokenizer(tmp_path / "missing.json")


@pytest.mark.skipif(not SHIPPED_PATH.is_file(), reason="train/tokenizer.json not built yet")
def test_shipped_tokenizer_loads_with_4096_ids() -> None:
    shipped = load_tokenizer()
    assert shipped.vocab_size == 4096 and shipped.name.startswith("bpe4096-")
    text = "Clean reference text, with numbers 1,234.5 and ünïcödé."
    assert shipped.decode(shipped.encode(text)) == text


# --- packing -----------------------------------------------------------------------------


def test_packing_stops_exactly_at_budget_and_counts_epochs(tok: BPETokenizer) -> None:
    docs = CORPUS[:3]
    per_pass = [t for d in docs for t in (tok.eot_id, *tok.encode(d))]
    T = 16
    budget = 25 * T
    assert budget > 2 * len(per_pass), "the test needs at least two passes over the data"
    # buffers of 1 leave the order alone, so the expected stream can be written down
    packer = SequencePacker(lambda: iter(docs), tok, T, budget, doc_buffer=1, seq_buffer=1)
    seqs = list(packer)
    assert len(seqs) == budget // T and all(len(s) == T + 1 for s in seqs)
    assert sum(len(s) - 1 for s in seqs) == budget == packer.stats.tokens
    stream = (per_pass * 5)[: budget + 1]
    for i, s in enumerate(seqs):
        assert s.tolist() == stream[i * T : i * T + T + 1]
    assert packer.stats.tokens_per_pass == len(per_pass)
    assert packer.stats.epochs == pytest.approx(budget / len(per_pass))
    assert packer.stats.passes_started >= math.ceil(budget / len(per_pass))


def test_packing_shuffle_is_seeded(tok: BPETokenizer) -> None:
    def run(seed: int) -> list[list[int]]:
        return [s.tolist() for s in SequencePacker(corpus_factory(), tok, 8, 8 * 40, seed=seed, seq_buffer=16)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    plain = [s.tolist() for s in SequencePacker(corpus_factory(), tok, 8, 8 * 40, doc_buffer=1, seq_buffer=1)]
    assert plain != run(1)


def test_buffer_shuffle_is_a_permutation() -> None:
    import random

    out = list(buffer_shuffle(range(100), 10, random.Random(0)))
    assert sorted(out) == list(range(100)) and out != list(range(100))


def test_packing_rejects_empty_data_and_ragged_batches(tok: BPETokenizer) -> None:
    with pytest.raises(ValueError, match="no tokens"):
        list(SequencePacker(lambda: iter(["", ""]), tok, 8, 64))
    with pytest.raises(ValueError, match="batches of 3"):
        list(SequencePacker(corpus_factory(), tok, 8, 64).batches(3))


# --- model and bits-per-byte -------------------------------------------------------------


def test_bits_per_byte_of_a_uniform_model_is_tokens_log2v_over_bytes(tok: BPETokenizer) -> None:
    model = GPT(preset_config("tiny", tok.vocab_size))
    with torch.no_grad():
        model.wte.weight.zero_()  # tied head: every logit is exactly 0, so p = 1/V everywhere
    text = " ".join(CORPUS[:4])  # longer than one 64-token window: windows and padding are used
    n_tokens = len(tok.encode(text))
    assert n_tokens > 2 * model.config.block_size
    expected = n_tokens * math.log2(tok.vocab_size) / len(text.encode("utf-8"))
    assert bits_per_byte(model, tok, text, "cpu") == pytest.approx(expected, rel=1e-6)  # float32 logits
    assert bits_per_byte(model, tok, text, "cpu", block_size=16) == pytest.approx(expected, rel=1e-6)  # float32 logits
    with pytest.raises(ValueError):
        bits_per_byte(model, tok, "", "cpu")


def test_model_shapes_and_generation(tok: BPETokenizer) -> None:
    torch.manual_seed(0)
    model = GPT(preset_config("tiny", tok.vocab_size))
    idx = torch.randint(0, tok.vocab_size, (2, 10))
    logits, loss = model(idx, idx)
    assert logits.shape == (2, 10, tok.vocab_size) and loss.ndim == 0
    assert model.lm_head.weight is model.wte.weight
    out = model.generate(idx, 70, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 80)  # past block_size: the context is cropped, generation goes on
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros((1, 65), dtype=torch.long))


# --- training ----------------------------------------------------------------------------


def test_training_lowers_the_loss_and_reports_its_run(tok: BPETokenizer, tmp_path: Path) -> None:
    cfg = TrainConfig(**{**TINY.to_dict(), "token_budget": 20 * 4 * 64})
    r = train(corpus_factory(), cfg, tmp_path, tokenizer=tok, val_text=CORPUS[0])
    assert r.tokens_seen == 20 * 4 * 64 and r.n_steps == 20 and len(r.losses) == 20
    assert r.losses[-1][2] < r.losses[0][2] - 0.5
    assert r.epochs_over_data is not None and r.epochs_over_data > 1  # 24 short docs, repeated
    assert r.data_passes >= 2
    assert r.device == "cpu" and r.dtype == "float32" and r.mfu is None
    assert r.val_bpb is not None and r.val_bpb > 0
    assert r.checkpoint == tmp_path / "model.pt" and r.checkpoint.is_file()
    assert r.tokenizer == tok.name and r.n_params == GPT(preset_config("tiny", tok.vocab_size)).num_params()


def test_budget_rounds_down_to_whole_batches(tok: BPETokenizer, tmp_path: Path) -> None:
    cfg = TrainConfig(**{**TINY.to_dict(), "token_budget": 2 * 4 * 64 + 100})
    assert train(corpus_factory(), cfg, tmp_path, tokenizer=tok).tokens_seen == 2 * 4 * 64
    with pytest.raises(ValueError, match="below one batch"):
        train(corpus_factory(), TrainConfig(**{**TINY.to_dict(), "token_budget": 100}), tmp_path, tokenizer=tok)


def test_same_seed_same_run_other_seed_other_run(tok: BPETokenizer, tmp_path: Path) -> None:
    a = train(corpus_factory(), TINY, tmp_path / "a", tokenizer=tok)
    b = train(corpus_factory(), TINY, tmp_path / "b", tokenizer=tok)
    c = train(corpus_factory(), TrainConfig(**{**TINY.to_dict(), "seed": 1}), tmp_path / "c", tokenizer=tok)
    assert a.losses == b.losses
    wa, wb, wc = (load_checkpoint(r.checkpoint).model.state_dict() for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a.losses != c.losses
    assert not torch.equal(wa["wte.weight"], wc["wte.weight"])


# --- checkpoints -------------------------------------------------------------------------


def test_checkpoint_round_trip_gives_identical_outputs(tok: BPETokenizer, tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = GPT(preset_config("tiny", tok.vocab_size)).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, tok.name, meta={"note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind
    ck = load_checkpoint(path, "cpu", tokenizer=tok.name)
    idx = torch.randint(0, tok.vocab_size, (2, 20))
    assert torch.equal(model(idx)[0], ck.model(idx)[0])
    assert ck.tokenizer == tok.name and ck.meta == {"note": "x"} and not ck.model.training
    assert ck.model.lm_head.weight is ck.model.wte.weight


def test_bad_checkpoints_raise_checkpoint_error_naming_the_path(tok: BPETokenizer, tmp_path: Path) -> None:
    good = save_checkpoint(tmp_path / "good.pt", GPT(preset_config("tiny", tok.vocab_size)), tok.name)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    for path in (truncated, foreign, noise, tmp_path / "absent.pt"):
        with pytest.raises(CheckpointError, match=str(path)):
            load_checkpoint(path)
    with pytest.raises(CheckpointError, match="tokenizer"):
        load_checkpoint(good, tokenizer="bpe4096-someoneelse")


def test_pick_device() -> None:
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


# --- generation metrics ------------------------------------------------------------------


def test_generation_metrics_on_hand_made_samples() -> None:
    samples = ["a b a b a b", "x y z", ""]
    # sample 1: 4-grams (a b a b), (b a b a), (a b a b) -> 1 duplicate of 3; sample 2 has none
    # bigrams: ab ba ab ba ab | xy yz -> 7 bigrams, 4 unique (ab, ba, xy, yz)
    m = generation_metrics(
        samples,
        quality_fn=lambda s: np.array([0.2, 0.4, 0.9]),
        junk_fn=lambda s: [False, True, True],
    )
    assert m["n_samples"] == 3
    assert m["repetition_4gram"] == pytest.approx(1 / 3)
    assert m["distinct_2"] == pytest.approx(4 / 7)
    assert m["quality_mean"] == pytest.approx(0.5)
    assert m["junk_rate"] == pytest.approx(2 / 3)
    assert m["empty_rate"] == pytest.approx(1 / 3)
    bare = generation_metrics(["one"])
    assert bare["repetition_4gram"] is None and bare["distinct_2"] is None and bare["junk_rate"] is None
    with pytest.raises(ValueError, match="quality_fn"):
        generation_metrics(samples, quality_fn=lambda s: np.zeros(2))


def test_generate_samples_is_seeded_and_per_prompt(tok: BPETokenizer) -> None:
    torch.manual_seed(0)
    model = GPT(preset_config("tiny", tok.vocab_size))
    prompts = ["The river", "A careful cook"]
    a = generate_samples(model, tok, prompts, max_new_tokens=12, seed=7)
    assert a == generate_samples(model, tok, prompts, max_new_tokens=12, seed=7)
    assert a[::-1] == generate_samples(model, tok, prompts[::-1], max_new_tokens=12, seed=7)
    assert a != generate_samples(model, tok, prompts, max_new_tokens=12, seed=8)
    assert all(isinstance(s, str) for s in a) and len(a) == 2


# --- memorization ------------------------------------------------------------------------

SECRET = (
    "Invoice 44871 for Margaret Oyelaran, 17 Harbour Lane, Port Ellis: three crates of amber "
    "glass bottles, two rolls of copper wire and one brass telescope, paid in full on delivery."
)


@pytest.fixture(scope="module")
def secret(tok: BPETokenizer) -> str:
    # 63 tokens + the EOT before it = one 64-token block, so every training window starts at
    # the document's start, as the probe does: the tiny model then memorizes it in few steps
    text = tok.decode(tok.encode(SECRET)[:63])
    assert len(tok.encode(text)) == 63
    return text


@pytest.fixture(scope="module")
def overfit(tok: BPETokenizer, secret: str, tmp_path_factory: pytest.TempPathFactory) -> GPT:
    cfg = TrainConfig(preset="tiny", token_budget=60 * 8 * 64, batch_size=8, lr=1e-2, warmup_frac=0.0, device="cpu")
    r = train(lambda: iter([secret]), cfg, tmp_path_factory.mktemp("overfit"), tokenizer=tok)
    return load_checkpoint(r.checkpoint, "cpu").model


def test_memorization_is_full_for_an_overfit_model_and_nil_for_an_untrained_one(
    tok: BPETokenizer, secret: str, overfit: GPT
) -> None:
    pair = split_document(secret, tok, prompt_tokens=8)
    assert pair[0] + pair[1] == secret
    assert memorization_rate(overfit, tok, [pair], n_tokens=32) == 1.0
    torch.manual_seed(0)
    untrained = GPT(preset_config("tiny", tok.vocab_size))
    other = split_document(" ".join(CORPUS[:3]), tok, prompt_tokens=8)
    assert memorization_rate(untrained, tok, [pair, other], n_tokens=32) == 0.0
    # the overfit model knows only its one document
    assert memorization_rate(overfit, tok, [pair, other], n_tokens=32) == 0.5
    with pytest.raises(ValueError, match="nothing to measure"):
        memorization_rate(untrained, tok, [("a", "b")], n_tokens=32)
    # tokens reproduced before the first miss: all 32 of the secret, few of the other text, and
    # a pair too short to judge is left out
    full, part = matched_tokens(overfit, tok, [pair, other, ("a", "b")], n_tokens=32)
    assert full == 32 and 0 <= part < 32
    assert matched_tokens(untrained, tok, [pair], n_tokens=32)[0] < 32


# --- GPU ---------------------------------------------------------------------------------

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("compile_model", [False, True])
def test_gpu_training_uses_bf16_and_loads_on_cpu(tok: BPETokenizer, tmp_path: Path, compile_model: bool) -> None:
    cfg = TrainConfig(preset="tiny", token_budget=30 * 8 * 64, batch_size=8, lr=5e-3, log_every=1,
                      device="cuda", compile=compile_model)
    r = train(corpus_factory(), cfg, tmp_path, tokenizer=tok, val_text=CORPUS[0])
    assert r.device.startswith("cuda") and r.tokens_seen == 30 * 8 * 64
    assert r.losses[-1][2] < r.losses[0][2] - 0.5
    if torch.cuda.is_bf16_supported():
        assert r.dtype == "bfloat16"
    ck_gpu = load_checkpoint(r.checkpoint, "cuda")
    ck_cpu = load_checkpoint(r.checkpoint, "cpu")
    idx = torch.randint(0, tok.vocab_size, (2, 32))
    with torch.no_grad():
        a = ck_gpu.model(idx.cuda())[0].float().cpu()
        b = ck_cpu.model(idx)[0]
    torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-3)
    assert bits_per_byte(ck_gpu.model, tok, CORPUS[0]) == pytest.approx(
        bits_per_byte(ck_cpu.model, tok, CORPUS[0]), rel=2e-2
    )
