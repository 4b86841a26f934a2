"""The dirt web crawls carry, made around real text: each maker returns one document.

Every maker takes a seeded `random.Random` and a `Material` (real paragraphs and
words per language, disjoint from the clean corpus), so junk looks like the junk
that filters meet in practice: boilerplate around a real paragraph, keyword spam of
real words, real text after a wrong codec, not random characters.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sample_data.sources import LegacyText, word_count

SHINGLE_WORDS = 5
CJK_LANGS = frozenset({"zh", "ja"})


# --- the near-duplicate ground truth --------------------------------------------------------

def shingles(text: str, n: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    """Word n-gram shingles of the lowercased, whitespace-split text (a text shorter than
    n words is one shingle; an empty text has none)."""
    words = text.lower().split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str) -> float:
    return _set_jaccard(shingles(a), shingles(b))


def _set_jaccard(sa: set, sb: set) -> float:
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


# --- material -------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{5,}")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff\u3040-\u30ff]{2,4}")


@dataclass
class Material:
    """Real paragraphs per language, for junk that wraps or quotes real text, and real
    text in legacy encodings (the Vim tutors) for mojibake."""
    paragraphs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # lang -> (text, source)
    last_source: str = ""  # the source of the paragraph handed out last, for the labels
    legacy: Sequence[LegacyText] = ()

    def add(self, lang: str, doc: str, source: str) -> None:
        for par in doc.split("\n\n"):
            if word_count(par) >= 12:
                self.paragraphs.setdefault(lang, []).append((par.strip(), source))

    def langs(self) -> list[str]:
        return sorted(self.paragraphs)

    def paragraph(self, rng: random.Random, lang: str, max_words: int = 140) -> str:
        pars = self.paragraphs.get(lang) or self.paragraphs["en"]
        par, self.last_source = rng.choice(pars)
        if lang not in CJK_LANGS and len(par.split()) > max_words:
            par = " ".join(par.split()[:max_words])
        elif lang in CJK_LANGS and len(par) > max_words * 2:
            par = par[: max_words * 2]
        return par

    def keywords(self, rng: random.Random, lang: str, k: int) -> list[str]:
        text = " ".join(self.paragraph(rng, lang, 400) for _ in range(3))
        pattern = _CJK_RUN if lang in CJK_LANGS else _WORD
        words = sorted({w.lower() for w in pattern.findall(text)})
        if not words:
            words = ["quality", "product", "service"]
        return [rng.choice(words) for _ in range(k)]

    def sentences(self, rng: random.Random, lang: str, k: int) -> list[str]:
        par = self.paragraph(rng, lang, 400)
        parts = [s.strip() for s in re.split(r"(?<=[.!?。！？])\s*|\n", par) if len(s.strip()) > 12]
        if not parts:
            parts = [par]
        start = rng.randrange(len(parts))
        return (parts[start:] + parts[:start])[:k]


SITES = ("northwind", "bluefinch", "daily-harbor", "kitchenlab", "openmeadow", "brightpath", "cityscope",
         "papertrail", "greenleaf", "moonbeam", "rivertown", "quickbyte", "silverline", "oakridge",
         "techpulse", "wanderlust", "homecraft", "nordlicht", "lepetitcoin", "elrincon", "sakuradori",
         "zhongwen-zone", "ruspravda", "lavocedelpaese", "cantinho")
TLDS = ("example", "test")
CITIES = ("Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton", "Fairview", "Salem",
          "Madison", "Georgetown", "Arlington", "Ashland", "Dover", "Oxford", "Jackson", "Burlington",
          "Manchester", "Milton", "Newport", "Auburn", "Dayton", "Lexington", "Milford", "Winchester")
NAMES = ("alice", "bob", "carol", "dmitri", "elena", "fatima", "giulia", "hans", "ines", "jun", "karen",
         "luis", "maria", "noah", "olga", "pierre", "quinn", "rosa", "sven", "tanaka", "ursula", "wei")


def site(rng: random.Random) -> str:
    return f"{rng.choice(SITES)}.{rng.choice(TLDS)}"


def url_words(rng: random.Random, text: str, n: int = 6, fallback: str = "p") -> list[str]:
    """The text's first `n` lowercase ASCII words, for a URL path (a random token when it has none)."""
    return re.findall(r"[a-z0-9]+", text[:300].lower())[:n] or [f"{fallback}{rng.randrange(10**6)}"]


def url_for(rng: random.Random, text: str) -> str:
    words = url_words(rng, text)
    return f"https://www.{site(rng)}/{rng.choice(['blog', 'news', 'wiki', 'forum', 'page', 'a'])}/{'-'.join(words)}"


# --- boilerplate -----------------------------------------------------------------------------

BOILERPLATE = {
    "en": {
        "nav": ["Home", "About us", "Products", "Services", "Blog", "News", "Contact", "Shop", "Careers",
                "Support", "FAQ", "Login", "Register", "My account", "Cart (0)", "Search", "Menu",
                "Skip to main content", "Categories", "Archives"],
        "cookie": ["We use cookies to improve your experience on our website. By continuing to browse, you agree to our use of cookies.",
                   "This website uses cookies to ensure you get the best experience on our website. Learn more",
                   "Accept all cookies", "Reject non-essential cookies", "Cookie settings", "Manage preferences",
                   "Please enable JavaScript in your browser to use this site."],
        "foot": ["© {year} {site}. All rights reserved.", "Privacy Policy | Terms of Use | Cookie Policy | Sitemap",
                 "Follow us on Facebook, Twitter and Instagram", "Subscribe to our newsletter",
                 "Enter your email address", "Back to top", "Powered by WordPress",
                 "Share this: Facebook Twitter LinkedIn Email", "Related posts", "Leave a comment",
                 "Posted in Uncategorized", "Read more »", "Previous post", "Next post", "Tags: news, update"],
    },
    "de": {
        "nav": ["Startseite", "Über uns", "Produkte", "Leistungen", "Aktuelles", "Kontakt", "Shop",
                "Karriere", "Hilfe", "Anmelden", "Registrieren", "Warenkorb (0)", "Suche", "Menü"],
        "cookie": ["Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten. Wenn Sie die Website weiter nutzen, stimmen Sie der Verwendung von Cookies zu.",
                   "Alle akzeptieren", "Nur notwendige Cookies", "Cookie-Einstellungen",
                   "Bitte aktivieren Sie JavaScript in Ihrem Browser."],
        "foot": ["© {year} {site}. Alle Rechte vorbehalten.", "Impressum | Datenschutz | AGB | Sitemap",
                 "Folgen Sie uns auf Facebook und Instagram", "Newsletter abonnieren", "Nach oben",
                 "Weiterlesen »", "Teilen: Facebook Twitter WhatsApp E-Mail", "Ähnliche Beiträge",
                 "Kommentar schreiben"],
    },
    "fr": {
        "nav": ["Accueil", "À propos", "Produits", "Services", "Actualités", "Contact", "Boutique",
                "Recrutement", "Aide", "Connexion", "Inscription", "Panier (0)", "Rechercher", "Menu"],
        "cookie": ["Nous utilisons des cookies pour vous garantir la meilleure expérience sur notre site. En poursuivant votre navigation, vous acceptez leur utilisation.",
                   "Tout accepter", "Tout refuser", "Paramétrer les cookies",
                   "Veuillez activer JavaScript dans votre navigateur."],
        "foot": ["© {year} {site}. Tous droits réservés.", "Mentions légales | Confidentialité | CGV | Plan du site",
                 "Suivez-nous sur Facebook et Instagram", "Inscrivez-vous à notre newsletter", "Retour en haut",
                 "Lire la suite »", "Partager : Facebook Twitter E-mail", "Articles similaires",
                 "Laisser un commentaire"],
    },
    "es": {
        "nav": ["Inicio", "Quiénes somos", "Productos", "Servicios", "Noticias", "Contacto", "Tienda",
                "Empleo", "Ayuda", "Iniciar sesión", "Registrarse", "Carrito (0)", "Buscar", "Menú"],
        "cookie": ["Utilizamos cookies propias y de terceros para mejorar su experiencia. Si continúa navegando, consideramos que acepta su uso.",
                   "Aceptar todas", "Rechazar", "Configurar cookies",
                   "Por favor, active JavaScript en su navegador."],
        "foot": ["© {year} {site}. Todos los derechos reservados.", "Aviso legal | Privacidad | Cookies | Mapa del sitio",
                 "Síguenos en Facebook e Instagram", "Suscríbete a nuestro boletín", "Volver arriba",
                 "Leer más »", "Compartir: Facebook Twitter WhatsApp", "Entradas relacionadas",
                 "Deja un comentario"],
    },
}


def boilerplate(rng: random.Random, mat: Material, lang: str) -> str:
    bp = BOILERPLATE[lang if lang in BOILERPLATE else "en"]
    host = site(rng)
    fill = {"year": rng.randint(2012, 2024), "site": host}
    nav = rng.sample(bp["nav"], rng.randint(6, len(bp["nav"])))
    lines = nav if rng.random() < 0.5 else [" | ".join(nav)]
    lines += rng.sample(bp["cookie"], rng.randint(2, len(bp["cookie"])))
    body = mat.paragraph(rng, lang, rng.randint(25, 70))
    lines += [body]
    lines += [f.format(**fill) for f in rng.sample(bp["foot"], rng.randint(6, len(bp["foot"])))]
    if rng.random() < 0.5:
        lines += rng.sample(bp["nav"], rng.randint(4, 8))
    return "\n".join(lines)


# --- SEO spam and link farms ----------------------------------------------------------------

SEO_WORDS = {
    "en": ["best", "cheap", "buy", "online", "free shipping", "discount", "sale", "top 10", "review",
           "near me", "official", "deals", "coupon", "lowest price", "order now", "hot", "2024", "2023"],
    "de": ["günstig", "kaufen", "online", "bester", "Angebot", "Rabatt", "Test", "Vergleich", "gratis",
           "Versandkostenfrei", "2024", "Top 10"],
    "es": ["barato", "comprar", "online", "mejor", "oferta", "descuento", "gratis", "envío gratis",
           "opiniones", "2024", "top 10"],
    "fr": ["pas cher", "acheter", "en ligne", "meilleur", "promo", "réduction", "gratuit", "avis",
           "livraison gratuite", "2024", "top 10"],
}


def spam_phrases(rng: random.Random, mat: Material, lang: str,
                 modifiers: Mapping[str, list[str]] = SEO_WORDS) -> Callable[[], str]:
    """A maker of keyword-spam phrases: real words of `lang` around one main keyword, mixed
    with the language's SEO modifiers (English where it has none)."""
    mods = modifiers[lang if lang in modifiers else "en"]
    kws = mat.keywords(rng, lang, rng.randint(3, 6))
    main = kws[0]

    def phrase() -> str:
        return " ".join(rng.sample([rng.choice(mods), rng.choice(kws), main, rng.choice(kws)], rng.randint(2, 4)))

    return phrase


def seo_spam(rng: random.Random, mat: Material, lang: str) -> str:
    phrase = spam_phrases(rng, mat, lang)
    lines = [" | ".join(phrase().title() for _ in range(rng.randint(3, 5)))]
    for _ in range(rng.randint(4, 10)):
        lines.append(" ".join(phrase() for _ in range(rng.randint(6, 16))) + ".")
    lines.append("Tags: " + ", ".join(phrase() for _ in range(rng.randint(10, 30))))
    return "\n\n".join(lines)


def link_farm(rng: random.Random, mat: Material, lang: str) -> str:
    kws = mat.keywords(rng, lang, 40)
    lines = []
    for _ in range(rng.randint(15, 50)):
        title = " ".join(rng.sample(kws, rng.randint(2, 4)))
        slug = "-".join(re.findall(r"\w+", title.lower()))
        url = f"http://{site(rng)}/{slug}.html"
        style = rng.randrange(4)
        if style == 0:
            lines.append(f"Click here for {title}: {url}")
        elif style == 1:
            lines.append(f"» {title.title()} ({url})")
        elif style == 2:
            lines.append(f"{title.title()} - click here - {url}")
        else:
            lines.append(f"Download {title} free >> {url}")
    return "\n".join(lines)


# --- encoding damage -------------------------------------------------------------------------

# The five bytes cp1252 leaves undefined pass through as Latin-1, as browsers do.
_CP1252 = [bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)]


def cp1252_decode(data: bytes) -> str:
    """Bytes read as Windows-1252, every byte a character."""
    return "".join(map(_CP1252.__getitem__, data))


def utf8_as_cp1252(text: str) -> str:
    """UTF-8 bytes read as Windows-1252: 'ü' becomes 'Ã¼'."""
    return cp1252_decode(text.encode("utf-8"))


def _mis_decode(data: bytes, codec: str) -> str:
    if codec == "cp1252":
        return cp1252_decode(data)
    return data.decode(codec, errors="replace")


MOJIBAKE_LANGS = ("de", "fr", "es", "it", "pt", "ru", "zh", "ja")


def accented_paragraphs(rng: random.Random, mat: Material, lang: str) -> str:
    """2..4 real paragraphs of `lang`, for a wrong decode to damage."""
    pars = []
    for _ in range(rng.randint(2, 4)):
        # Mostly-ASCII paragraphs survive a wrong decode unchanged; prefer ones that show it.
        for _ in range(10):
            par = mat.paragraph(rng, lang, 200)
            if sum(ord(c) > 127 for c in par) >= 5:
                break
        pars.append(par)
    return "\n\n".join(pars)


def mojibake(rng: random.Random, mat: Material, lang: str) -> tuple[str, str, str]:
    """Returns (text, lang, how). Either real text taken through a wrong decode, or a Vim
    tutor lesson (`mat.legacy`) in its legacy encoding (KOI8-R, EUC-JP, Big5...) read as
    UTF-8 or cp1252."""
    if rng.random() < 0.35 and mat.legacy:
        legacy = rng.choice(list(mat.legacy))
        chunk = rng.choice(legacy.chunks)
        codec = rng.choice(["utf-8", "cp1252"])
        return _mis_decode(chunk, codec), legacy.lang, f"{legacy.name} ({legacy.encoding}) read as {codec}"
    text = accented_paragraphs(rng, mat, lang)
    how = rng.choice(["utf-8 read as cp1252", "utf-8 read as latin-1", "utf-8 read as cp1252 twice"])
    if how == "utf-8 read as latin-1":
        return text.encode("utf-8").decode("latin-1"), lang, how
    out = utf8_as_cp1252(text)
    if how.endswith("twice"):
        out = utf8_as_cp1252(out)
    return out, lang, how


# --- repetition, placeholders, numbers -------------------------------------------------------

def repeated_lines(rng: random.Random, mat: Material, lang: str) -> str:
    lines = mat.sentences(rng, lang, rng.randint(2, 5))
    reps = rng.randint(5, 20)
    out = [mat.paragraph(rng, lang, 40)] if rng.random() < 0.4 else []
    for _ in range(reps):
        out += lines
    return "\n".join(out)


LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
         "et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip "
         "ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum eu fugiat nulla "
         "pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim "
         "id est laborum curabitur pretium tincidunt lacus nulla gravida orci a odio nullam varius turpis "
         "integer vitae justo mauris").split()
LOREM_OPENING = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua."


def placeholder_paragraphs(rng: random.Random, opening: str, sentence: Callable[[], str]) -> list[str]:
    """2..6 paragraphs of placeholder sentences, the first after a fixed opening."""
    pars = [opening + " " + " ".join(sentence() for _ in range(rng.randint(2, 5)))]
    pars += [" ".join(sentence() for _ in range(rng.randint(3, 7))) for _ in range(rng.randint(1, 5))]
    return pars


def lorem_ipsum(rng: random.Random, mat: Material, lang: str) -> str:
    def sentence() -> str:
        words = [rng.choice(LOREM) for _ in range(rng.randint(6, 16))]
        return " ".join(words).capitalize() + "."

    pars = placeholder_paragraphs(rng, LOREM_OPENING, sentence)
    if rng.random() < 0.4:
        heads = ["Welcome to our website", "Our Services", "About the Company", "Latest News", "Sample Page"]
        pars = [p for pair in zip(rng.sample(heads, len(heads)), pars) for p in pair] + pars[len(heads):]
    return "\n\n".join(pars)


TABLE_HEADERS = (
    ("Date", "Open", "High", "Low", "Close", "Volume"),
    ("Rank", "Team", "P", "W", "D", "L", "GF", "GA", "Pts"),
    ("Year", "Q1", "Q2", "Q3", "Q4", "Total"),
    ("Station", "Lat", "Lon", "Elevation", "Tmin", "Tmax", "Precip"),
    ("Item", "Qty", "Unit price", "Discount", "Amount"),
)


def number_table(rng: random.Random, mat: Material, lang: str) -> str:
    header = rng.choice(TABLE_HEADERS)
    sep = rng.choice([" | ", "\t", ",", "  "])
    rows = [sep.join(header)]
    base = rng.uniform(10, 5000)
    for i in range(rng.randint(15, 70)):
        cells = []
        for j, col in enumerate(header):
            if j == 0 and col == "Date":
                cells.append(f"20{rng.randint(10, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
            elif j == 0:
                cells.append(str(i + 1) if col in ("Rank", "Item", "Station") else str(2000 + i))
            else:
                base *= rng.uniform(0.97, 1.03)
                value = base * rng.uniform(0.5, 1.5)
                thousands = "," if sep != "," else ""
                cells.append(f"{value:{thousands}.2f}" if rng.random() < 0.7 else str(rng.randint(0, 999)))
        rows.append(sep.join(cells))
    title = rng.choice(["Table 3. Results", "Quarterly figures", "Historical data", "Standings", ""])
    return (title + "\n\n" if title else "") + "\n".join(rows)


def templated(rng: random.Random, mat: Material, lang: str) -> str:
    """Machine-made pages: one template looped over a list (cities, days, items)."""
    kind = rng.randrange(3)
    kws = mat.keywords(rng, "en", 3)
    if kind == 0:
        svc = " ".join(kws[:2])
        cities = rng.sample(CITIES, rng.randint(8, 20))
        return "\n\n".join(
            f"{svc.title()} in {c}: looking for {svc} in {c}? Our {svc} experts in {c} provide the best {svc} "
            f"in {c} and the surrounding area. Call now for {svc} in {c}!" for c in cities)
    if kind == 1:
        city = rng.choice(CITIES)
        conds = ["sunny", "cloudy", "rainy", "windy", "foggy", "clear"]
        return "\n".join(
            f"Weather in {city} on 2023-{rng.randint(1, 12):02d}-{d:02d}: {rng.choice(conds)}, high of "
            f"{rng.randint(-5, 35)}°C, low of {rng.randint(-15, 20)}°C, humidity {rng.randint(20, 99)}%."
            for d in range(1, rng.randint(15, 29)))
    first = rng.randint(1000, 9000)
    return "\n".join(
        f"Item #{n}: {rng.choice(kws)} {rng.choice(kws)} - price {rng.randint(5, 500)}.99 USD - in stock: "
        f"{rng.choice(['yes', 'no'])} - rating {rng.randint(1, 5)}/5 - add to cart"
        for n in range(first, first + rng.randint(15, 60)))


SHORT_UI = {
    "en": ["Read more", "404 Not Found", "Loading...", "Page 2 of 7", "Subscribe", "Sign in to continue",
           "No results found.", "Click to expand", "Thanks for reading!", "Comments are closed."],
    "de": ["Weiterlesen", "Seite nicht gefunden", "Wird geladen …", "Jetzt anmelden", "Keine Ergebnisse."],
    "fr": ["Lire la suite", "Page introuvable", "Chargement…", "Se connecter", "Aucun résultat."],
    "es": ["Leer más", "Página no encontrada", "Cargando…", "Iniciar sesión", "Sin resultados."],
    "ru": ["Читать далее", "Страница не найдена", "Загрузка…", "Войти"],
    "zh": ["阅读更多", "页面未找到", "加载中……", "登录"],
    "ja": ["続きを読む", "ページが見つかりません", "読み込み中…", "ログイン"],
}


def short_fragment(rng: random.Random, mat: Material, lang: str,
                   ui: Mapping[str, list[str]] = SHORT_UI) -> tuple[str, bool]:
    """(text, is an interface string): an interface string of `ui`, or real text cut short."""
    if rng.random() < 0.5:
        return rng.choice(ui.get(lang, ui["en"])), True
    par = mat.paragraph(rng, lang, 400)
    if lang in CJK_LANGS:
        return par[: rng.randint(4, 20)], False
    return " ".join(par.split()[: rng.randint(2, 12)]), False


# --- PII ------------------------------------------------------------------------------------

PII_TEMPLATES = {
    "en": {"email": "Contact me at {email} if you have questions.", "phone": "You can also call {phone} after 5pm.",
           "card": "Card number: {card}, expires {exp}.", "ip": "The request came from IP address {ip}."},
    "de": {"email": "Kontakt: {email}", "phone": "Telefon: {phone}", "card": "Kreditkarte: {card}, gültig bis {exp}.",
           "ip": "Zugriff von der IP-Adresse {ip}."},
    "fr": {"email": "Contactez-moi à {email}.", "phone": "Téléphone : {phone}", "card": "Carte bancaire : {card}, exp. {exp}.",
           "ip": "Connexion depuis l'adresse IP {ip}."},
    "es": {"email": "Escríbeme a {email}.", "phone": "Llama al {phone}.", "card": "Tarjeta: {card}, caduca {exp}.",
           "ip": "Acceso desde la IP {ip}."},
    "ru": {"email": "Пишите на {email}.", "phone": "Телефон: {phone}", "card": "Номер карты: {card}, до {exp}.",
           "ip": "Запрос с IP-адреса {ip}."},
    "zh": {"email": "联系邮箱：{email}", "phone": "电话：{phone}", "card": "银行卡号：{card}，有效期 {exp}。", "ip": "访问来源 IP：{ip}"},
    "ja": {"email": "連絡先：{email}", "phone": "電話：{phone}", "card": "カード番号：{card}（有効期限 {exp}）", "ip": "接続元IPアドレス：{ip}"},
}
PHONE_FORMATS = ("+1 {a3}-555-{d4}", "({a3}) 555-{d4}", "+44 20 7946 {d4}", "+49 30 {d4}{d4}",
                 "+33 1 {d2} {d2} {d2} {d2}", "06 {d2} {d2} {d2} {d2}", "+7 495 {d3}-{d2}-{d2}",
                 "+86 10 {d4} {d4}", "090-{d4}-{d4}", "+34 91 {d3} {d2} {d2}")


def luhn_complete(prefix_and_body: str) -> str:
    """Append the Luhn check digit (ISO/IEC 7812) to a digit string."""
    total = 0
    for i, ch in enumerate(reversed(prefix_and_body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return prefix_and_body + str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(digits) >= 12 and total % 10 == 0


def fake_card(rng: random.Random, mastercard: tuple[int, int] = (51, 55),
              seps: Sequence[str] = (" ", "-", "")) -> str:
    """A Luhn-valid card number: Visa, Mastercard (prefixes in the `mastercard` range) or Amex."""
    kind = rng.randrange(3)
    if kind == 2:  # 15-digit, grouped 4-6-5
        num = luhn_complete(rng.choice(["34", "37"]) + "".join(str(rng.randrange(10)) for _ in range(12)))
        return f"{num[:4]} {num[4:10]} {num[10:]}"
    prefix = "4" if kind == 0 else str(rng.randint(*mastercard))
    num = luhn_complete(prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix))))
    sep = rng.choice(seps)
    return sep.join(num[i:i + 4] for i in range(0, 16, 4))


def fake_email(rng: random.Random) -> str:
    first, last = rng.sample(NAMES, 2)
    user = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first[0]}{last}", f"{first}_{last}"])
    return f"{user}@{rng.choice(['example.com', 'example.org', 'example.net', 'mail.example'])}"


def fake_phone(rng: random.Random, formats: Sequence[str] = PHONE_FORMATS) -> str:
    fmt = rng.choice(formats)
    return fmt.format(a3=rng.randint(201, 989), d4=f"{rng.randrange(10000):04d}", d3=f"{rng.randrange(1000):03d}",
                      d2=f"{rng.randrange(100):02d}")


def fake_ip(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 4:
        return f"2001:db8::{rng.randrange(65536):x}:{rng.randrange(65536):x}"
    base = ["192.0.2", "198.51.100", "203.0.113", f"10.{rng.randrange(256)}.{rng.randrange(256)}"][kind]
    return f"{base}.{rng.randint(1, 254)}"


PiiMaker = Callable[[random.Random], str]
PII_MAKERS: dict[str, PiiMaker] = {"email": fake_email, "phone": fake_phone, "card": fake_card, "ip": fake_ip}


def insert_pii(rng: random.Random, text: str, lang: str, templates: Mapping[str, dict[str, str]] = PII_TEMPLATES,
               makers: Mapping[str, PiiMaker] = PII_MAKERS, exp_years: tuple[int, int] = (25, 31),
               ) -> tuple[str, dict[str, int]]:
    """Insert 2..8 PII sentences (`templates` of the language, else English, filled by
    `makers`; cards expire in 20`exp_years`) between the paragraphs of a real document."""
    tpl = templates.get(lang, templates["en"])
    counts = {"email": 0, "phone": 0, "card": 0, "ip": 0}
    pars = text.split("\n\n")
    for _ in range(rng.randint(2, 8)):
        kind = rng.choice(sorted(counts))
        value = makers[kind](rng)
        sentence = tpl[kind].format(**{kind: value, "exp": f"{rng.randint(1, 12):02d}/{rng.randint(*exp_years)}"})
        pars.insert(rng.randint(1, len(pars)), sentence)
        counts[kind] += 1
    return "\n\n".join(pars), counts


# --- near-duplicates --------------------------------------------------------------------------

NEAR_HEADERS = ("Posted on {date} by {name}", "Originally published at {site}", "From {site} — {date}",
                "{name} wrote:", "Reposted from {site}", "Archived copy, {date}")
NEAR_FOOTERS = ("Share this: Facebook Twitter Email", "Source: {site}", "Tags: {w1}, {w2}",
                "Last edited {date}", "Comments (3)", "Copyright {site}")


def _iso_date(rng: random.Random) -> str:
    return f"20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def near_duplicate(rng: random.Random, text: str, target: float, *, headers: Sequence[str] = NEAR_HEADERS,
                   footers: Sequence[str] = NEAR_FOOTERS, names: Sequence[str] = NAMES,
                   host: Callable[[random.Random], str] = site,
                   date: Callable[[random.Random], str] = _iso_date) -> tuple[str, float, int]:
    """A copy of `text` with a new header/footer (one of `headers` and `footers`, filled
    with a date, a name, a host and words of the text) and small word edits, edited until
    its 5-word-shingle Jaccard with `text` is at or just below `target`.
    Returns (new text, exact Jaccard, number of word edits)."""
    words_pool = text.split()
    fill = {"date": date(rng), "name": rng.choice(names).title(), "site": host(rng),
            "w1": rng.choice(words_pool).lower(), "w2": rng.choice(words_pool).lower()}
    header = rng.choice(headers).format(**fill)
    footer = rng.choice(footers).format(**fill)
    tokens = re.split(r"(\s+)", text.strip())  # words at even indices, whitespace at odd
    framed = f"{header}\n\n{text.strip()}\n\n{footer}"
    if jaccard(text, framed) < target - 0.01:
        header = footer = ""
    edits = 0
    cur = _render(header, tokens, footer)
    base = shingles(text)
    score = _set_jaccard(base, shingles(cur))
    while score > target:
        n_words = (len(tokens) + 1) // 2
        step = max(1, int(n_words * (score - target) / 30))
        for _ in range(step):
            _edit(rng, tokens, words_pool)
            edits += 1
        cur = _render(header, tokens, footer)
        score = _set_jaccard(base, shingles(cur))
    return cur, score, edits


def _render(header: str, tokens: list[str], footer: str) -> str:
    body = "".join(tokens)
    return "\n\n".join(p for p in (header, body, footer) if p)


def _edit(rng: random.Random, tokens: list[str], pool: list[str]) -> None:
    word_idx = list(range(0, len(tokens), 2))
    if len(word_idx) < 3:
        tokens.append(" ")
        tokens.append(rng.choice(pool))
        return
    i = rng.choice(word_idx)
    op = rng.random()
    if op < 0.5:
        tokens[i] = rng.choice(pool)
    elif op < 0.75 and i + 1 < len(tokens):
        del tokens[i:i + 2]
    else:
        tokens[i:i] = [rng.choice(pool), " "]
