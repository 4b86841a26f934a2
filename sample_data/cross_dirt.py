"""Junk makers for the cross-source corpus, with their own template strings.

The kinds of dirt are those of dirt.py (same `junk_type` values), but every fixed string
a filter could have been tuned on is different here: navigation menus, cookie banners,
footers, SEO modifiers, link-farm phrasing, interface strings, page templates, table
headers, near-duplicate headers, PII sentences, host names, and more languages. Where
only those strings differ, the code is dirt.py's, called with this module's strings:
the near-duplicate edits and their Jaccard, PII insertion, card numbers (Luhn), phone
numbers, interface strings and cut-off text, spam phrases, placeholder paragraphs, the
paragraphs a wrong decode damages, and repeated lines (which have no strings of their own).
"""
from __future__ import annotations

import random
import re

from sample_data import dirt
from sample_data.dirt import (  # noqa: F401  (repeated_lines: a maker of this module too)
    Material, accented_paragraphs, cp1252_decode, placeholder_paragraphs, repeated_lines, spam_phrases, url_words,
)

# --- hosts and URLs ----------------------------------------------------------------------------

SITES = ("lanternworks", "copperkettle", "harborlight", "mistral-post", "tallgrass", "ironbridge", "saltmarsh",
         "foxglove", "pinecrest", "redkite", "waldhaus", "lamaisonbleue", "puertoalto", "ilportico",
         "sibirskaya", "kaede-net", "huashan-bbs", "owlery", "tinroof", "seaglass", "fernhill", "umbra-media",
         "stellwerk", "boulangerie-web", "casadelsol", "nevskiy", "midori-ya", "changjiang-forum")
TLDS = ("example", "test")
PATHS = ("articles", "story", "kb", "thread", "post", "doc", "item", "view")


def site(rng: random.Random) -> str:
    sub = rng.choice(["www.", "", "m.", "blog.", "forum."])
    return f"{sub}{rng.choice(SITES)}.{rng.choice(TLDS)}"


def url_for(rng: random.Random, text: str) -> str:
    words = url_words(rng, text, 5, "n")
    return f"https://{site(rng)}/{rng.choice(PATHS)}/{rng.randrange(10**5)}/{'_'.join(words)}"


# --- boilerplate -----------------------------------------------------------------------------------

BOILERPLATE = {
    "en": {
        "nav": ["Start", "Who we are", "Our work", "Solutions", "Journal", "Press", "Get in touch", "Store",
                "Jobs", "Help centre", "Sign in", "Create account", "Wishlist", "Basket: 0 items", "Find",
                "Open navigation", "Jump to content", "Topics", "Events", "Resources", "Pricing"],
        "cookie": ["This site stores small files on your device so that it works properly and so that we can see how it is used.",
                   "Your privacy matters to us. Choose which cookies you allow below.",
                   "Allow all", "Only essential", "Customise choices", "Privacy centre",
                   "JavaScript is switched off in your browser; some features will not work."],
        "foot": ["Copyright {year} {site} Ltd. Registered in England.", "Legal notice · Privacy · Accessibility · Site map",
                 "Find us on Mastodon, YouTube and Pinterest", "Get our weekly digest", "Your e-mail",
                 "Return to top ↑", "Built with Drupal", "Send to a friend · Print this page",
                 "You might also like", "Join the discussion", "Filed under: General", "Continue reading →",
                 "‹ Older entry", "Newer entry ›", "Keywords: misc, info"],
    },
    "de": {
        "nav": ["Start", "Wer wir sind", "Angebot", "Lösungen", "Magazin", "Presse", "Schreiben Sie uns",
                "Online-Shop", "Stellenangebote", "Hilfecenter", "Einloggen", "Konto erstellen", "Merkliste",
                "Zum Inhalt springen"],
        "cookie": ["Diese Seite speichert kleine Dateien auf Ihrem Gerät, damit sie richtig funktioniert und wir die Nutzung auswerten können.",
                   "Alle erlauben", "Nur erforderliche", "Auswahl anpassen", "Datenschutzzentrale",
                   "JavaScript ist in Ihrem Browser abgeschaltet."],
        "foot": ["Copyright {year} {site} GmbH", "Rechtliches · Datenschutzerklärung · Barrierefreiheit",
                 "Besuchen Sie uns auf Mastodon und YouTube", "Wöchentlichen Rundbrief erhalten", "Zurück nach oben ↑",
                 "Mehr lesen →", "Seite drucken · Weiterempfehlen", "Das könnte Sie auch interessieren",
                 "Diskutieren Sie mit"],
    },
    "fr": {
        "nav": ["Départ", "Qui sommes-nous", "Nos réalisations", "Solutions", "Le journal", "Presse", "Nous écrire",
                "Magasin", "Offres d'emploi", "Centre d'aide", "Se connecter", "Créer un compte", "Mes favoris",
                "Aller au contenu"],
        "cookie": ["Ce site enregistre de petits fichiers sur votre appareil afin de fonctionner correctement et de mesurer sa fréquentation.",
                   "Autoriser tout", "Essentiels uniquement", "Personnaliser mes choix", "Espace confidentialité",
                   "JavaScript est désactivé dans votre navigateur."],
        "foot": ["Copyright {year} {site} SARL", "Informations légales · Vie privée · Accessibilité",
                 "Retrouvez-nous sur Mastodon et YouTube", "Recevoir la lettre hebdomadaire", "Haut de page ↑",
                 "Poursuivre la lecture →", "Imprimer · Envoyer à un ami", "À lire aussi", "Réagir à cet article"],
    },
    "es": {
        "nav": ["Portada", "Nosotros", "Nuestro trabajo", "Soluciones", "Revista", "Prensa", "Escríbenos",
                "Tienda en línea", "Trabaja con nosotros", "Centro de ayuda", "Entrar", "Crear cuenta",
                "Favoritos", "Saltar al contenido"],
        "cookie": ["Este sitio guarda pequeños archivos en su dispositivo para funcionar correctamente y conocer cómo se usa.",
                   "Permitir todo", "Solo las necesarias", "Personalizar", "Centro de privacidad",
                   "JavaScript está desactivado en su navegador."],
        "foot": ["Copyright {year} {site} S.L.", "Información legal · Privacidad · Accesibilidad",
                 "Encuéntranos en Mastodon y YouTube", "Recibe el boletín semanal", "Subir ↑", "Seguir leyendo →",
                 "Imprimir · Enviar a un amigo", "También te puede interesar", "Únete a la conversación"],
    },
    "it": {
        "nav": ["Home page", "Chi siamo", "Progetti", "Soluzioni", "Notizie", "Stampa", "Scrivici", "Negozio",
                "Lavora con noi", "Assistenza", "Accedi", "Crea un account", "Preferiti", "Vai al contenuto"],
        "cookie": ["Questo sito salva piccoli file sul tuo dispositivo per funzionare correttamente e per capire come viene usato.",
                   "Consenti tutto", "Solo necessari", "Personalizza", "Centro privacy",
                   "JavaScript è disattivato nel tuo browser."],
        "foot": ["Copyright {year} {site} S.r.l. – P.IVA 01234567890", "Note legali · Privacy · Accessibilità",
                 "Seguici su Mastodon e YouTube", "Iscriviti alla newsletter settimanale", "Torna su ↑",
                 "Continua a leggere →", "Stampa · Invia a un amico", "Potrebbe interessarti anche",
                 "Partecipa alla discussione"],
    },
    "ru": {
        "nav": ["Главная", "О компании", "Каталог", "Решения", "Журнал", "Пресс-центр", "Написать нам", "Магазин",
                "Вакансии", "Помощь", "Вход", "Регистрация", "Избранное", "Перейти к содержанию"],
        "cookie": ["Сайт сохраняет небольшие файлы на вашем устройстве, чтобы работать правильно и понимать, как им пользуются.",
                   "Разрешить все", "Только необходимые", "Настроить", "Конфиденциальность",
                   "В вашем браузере отключён JavaScript."],
        "foot": ["© {site}, {year}. Перепечатка материалов только с разрешения редакции.",
                 "Правовая информация · Политика конфиденциальности · Карта сайта",
                 "Мы в Telegram и ВКонтакте", "Подпишитесь на рассылку", "Наверх ↑", "Читать дальше →",
                 "Распечатать · Отправить другу", "Вам может быть интересно", "Обсудить"],
    },
}


def boilerplate(rng: random.Random, mat: Material, lang: str) -> str:
    bp = BOILERPLATE[lang if lang in BOILERPLATE else "en"]
    fill = {"year": rng.randint(2011, 2024), "site": site(rng)}
    nav = rng.sample(bp["nav"], rng.randint(6, len(bp["nav"])))
    style = rng.randrange(3)
    lines = nav if style == 0 else [" · ".join(nav)] if style == 1 else [" / ".join(nav[:len(nav) // 2]), " / ".join(nav[len(nav) // 2:])]
    cookie = rng.sample(bp["cookie"], rng.randint(2, len(bp["cookie"])))
    body = mat.paragraph(rng, lang, rng.randint(25, 70))
    foot = [f.format(**fill) for f in rng.sample(bp["foot"], rng.randint(6, len(bp["foot"])))]
    if rng.random() < 0.5:
        lines += [body] + foot + cookie  # banner rendered at the page end
    else:
        lines += cookie + [body] + foot
    if rng.random() < 0.4:
        lines += rng.sample(bp["nav"], rng.randint(4, 8))
    return "\n".join(lines)


# --- SEO spam and link farms ----------------------------------------------------------------------

SEO_WORDS = {
    "en": ["affordable", "top rated", "wholesale", "deal of the day", "promo code", "exclusive", "guaranteed",
           "fast delivery", "clearance", "bestseller", "limited offer", "compare prices", "outlet", "2025",
           "ultimate guide", "for sale", "in stock", "vip"],
    "de": ["preiswert", "bestellen", "Sonderangebot", "Gutschein", "Schnäppchen", "versandfrei", "Testsieger",
           "Preisvergleich", "Restposten", "2025", "Ratgeber", "sofort lieferbar"],
    "fr": ["petit prix", "commander", "bon plan", "code promo", "soldes", "exclusif", "comparatif", "destockage",
           "expédition rapide", "2025", "guide complet"],
    "es": ["económico", "pedir ya", "chollo", "código promocional", "rebajas", "exclusivo", "comparativa",
           "liquidación", "entrega rápida", "2025", "guía definitiva"],
    "it": ["economico", "ordina ora", "offerta del giorno", "codice sconto", "saldi", "esclusivo",
           "confronta prezzi", "spedizione veloce", "2025", "guida completa"],
    "ru": ["недорого", "заказать", "акция", "промокод", "распродажа", "скидки", "доставка", "отзывы", "2025",
           "купить дешево", "лучшие цены"],
}


def seo_spam(rng: random.Random, mat: Material, lang: str) -> str:
    phrase = spam_phrases(rng, mat, lang, SEO_WORDS)
    out = [" - ".join(phrase().upper() if rng.random() < 0.3 else phrase().title() for _ in range(rng.randint(3, 5)))]
    for _ in range(rng.randint(4, 10)):
        out.append(", ".join(phrase() for _ in range(rng.randint(5, 14))) + "!")
    out.append("#" + " #".join(phrase().replace(" ", "") for _ in range(rng.randint(10, 30))))
    return "\n\n".join(out)


LINK_STYLES = {
    "en": ["Visit {t} now: {u}", "→ {T} | {u}", "Best source for {t}: {u}", "Get {t} today at {u}",
           "[{T}]({u})", "{T} ... more at {u}"],
    "de": ["Mehr zu {t}: {u}", "→ {T} | {u}", "Jetzt {t} ansehen: {u}", "[{T}]({u})"],
    "es": ["Ver {t} aquí: {u}", "→ {T} | {u}", "Todo sobre {t}: {u}", "[{T}]({u})"],
    "fr": ["Voir {t} ici : {u}", "→ {T} | {u}", "Tout sur {t} : {u}", "[{T}]({u})"],
}


def link_farm(rng: random.Random, mat: Material, lang: str) -> str:
    kws = mat.keywords(rng, lang, 40)
    styles = LINK_STYLES[lang if lang in LINK_STYLES else "en"]
    lines = []
    for _ in range(rng.randint(15, 50)):
        title = " ".join(rng.sample(kws, rng.randint(2, 4)))
        slug = "_".join(re.findall(r"\w+", title.lower()))
        url = f"https://{site(rng)}/go/{slug}-{rng.randrange(1000)}"
        lines.append(rng.choice(styles).format(t=title, T=title.title(), u=url))
    return "\n".join(lines)


# --- encoding damage -------------------------------------------------------------------------------

# Legacy encodings per language: real text written in them, read back with a wrong codec.
LEGACY = {"ru": ("koi8-r", "cp1251", "cp866"), "ja": ("euc-jp", "shift_jis", "iso2022_jp"),
          "zh": ("gbk", "gb18030", "big5"), "de": ("cp1252", "iso8859-15"), "fr": ("cp1252", "iso8859-15"),
          "es": ("cp1252", "iso8859-15"), "it": ("cp1252", "iso8859-15")}
MOJIBAKE_LANGS = ("de", "fr", "es", "it", "ru", "ja", "zh")


def mojibake(rng: random.Random, mat: Material, lang: str) -> tuple[str, str, str]:
    """Returns (text, lang, how): real text whose bytes were decoded with the wrong codec."""
    text = accented_paragraphs(rng, mat, lang)
    if rng.random() < 0.45:
        enc = rng.choice(LEGACY[lang])
        data = text.encode(enc, errors="replace")
        codec = rng.choice(["utf-8", "cp1252"] if lang in ("ru", "ja", "zh") else ["utf-8"])
        out = cp1252_decode(data) if codec == "cp1252" else data.decode("utf-8", errors="replace")
        return out, lang, f"{enc} read as {codec}"
    how = rng.choice(["utf-8 read as cp1252", "utf-8 read as iso8859-15", "utf-8 read as cp1252 twice",
                      "utf-8 read as mac-roman"])
    data = text.encode("utf-8")
    if how == "utf-8 read as iso8859-15":
        return data.decode("iso8859-15"), lang, how
    if how == "utf-8 read as mac-roman":
        return data.decode("mac_roman"), lang, how
    out = cp1252_decode(data)
    if how.endswith("twice"):
        out = cp1252_decode(out.encode("utf-8"))
    return out, lang, how


# --- placeholders, tables, templates -------------------------------------------------------------

# Cicero, De finibus 1.10.32-33 (the source of "lorem ipsum"), and the German "Blindtext" variant.
CICERO = ("sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium "
          "totam rem aperiam eaque ipsa quae ab illo inventore veritatis et quasi architecto beatae vitae dicta "
          "sunt explicabo nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit sed quia "
          "consequuntur magni dolores eos qui ratione sequi nesciunt neque porro quisquam est qui dolorem ipsum "
          "quia dolor sit amet consectetur adipisci velit numquam eius modi tempora incidunt magnam aliquam "
          "quaerat at vero accusamus iusto odio dignissimos ducimus blanditiis praesentium voluptatum deleniti "
          "atque corrupti quos quas molestias excepturi obcaecati cupiditate provident similique").split()
OPENINGS = (
    "Lorem ipsum dolor sit amet, consetetur sadipscing elitr, sed diam nonumy eirmod tempor invidunt ut labore et dolore magna aliquyam erat, sed diam voluptua.",
    "Lorem ipsum dolor sit amet, consectetuer adipiscing elit. Aenean commodo ligula eget dolor. Aenean massa.",
    "Sed ut perspiciatis unde omnis iste natus error sit voluptatem accusantium doloremque laudantium, totam rem aperiam.",
    "Neque porro quisquam est, qui dolorem ipsum quia dolor sit amet, consectetur, adipisci velit.",
)
PLACEHOLDER_HEADS = ("Page title goes here", "Section heading", "Your headline", "Product name", "Feature one",
                     "Placeholder", "Team member", "Untitled block")


def lorem_ipsum(rng: random.Random, mat: Material, lang: str) -> str:
    def sentence() -> str:
        return " ".join(rng.choice(CICERO) for _ in range(rng.randint(5, 15))).capitalize() + rng.choice(".?.")

    pars = placeholder_paragraphs(rng, rng.choice(OPENINGS), sentence)
    if rng.random() < 0.45:
        heads = rng.sample(PLACEHOLDER_HEADS, len(pars))
        pars = [p for pair in zip(heads, pars) for p in pair]
    return "\n\n".join(pars)


TABLE_HEADERS = (
    ("Month", "Rainfall (mm)", "Sun (h)", "Mean temp", "Frost days"),
    ("Country", "Population", "Area km2", "GDP (bn)", "Growth %"),
    ("Lap", "Driver no.", "Time", "Gap", "Speed"),
    ("SKU", "Stock", "Reserved", "Cost", "Margin"),
    ("Week", "Visitors", "Sessions", "Bounce %", "Revenue"),
    ("Block", "Height", "Txs", "Fee", "Size kB"),
)
TABLE_TITLES = ("Appendix B", "Monthly summary", "Raw export", "Data sheet", "Annex 4: figures", "")


def number_table(rng: random.Random, mat: Material, lang: str) -> str:
    header = rng.choice(TABLE_HEADERS)
    sep = rng.choice([" ; ", "\t", ";", " | ", "   "])
    rows = [sep.join(header)]
    base = rng.uniform(5, 9000)
    for i in range(rng.randint(15, 70)):
        cells = [str(i + 1) if header[0] != "Month" else f"{2000 + i // 12}-{i % 12 + 1:02d}"]
        for _ in header[1:]:
            base *= rng.uniform(0.96, 1.04)
            v = base * rng.uniform(0.4, 1.6)
            cells.append(f"{v:.1f}" if rng.random() < 0.6 else f"{int(v)}")
        rows.append(sep.join(cells))
    title = rng.choice(TABLE_TITLES)
    return (title + "\n\n" if title else "") + "\n".join(rows)


CITIES = ("Maplewood", "Lakeside", "Brookfield", "Kingston", "Hampton", "Westfield", "Glendale", "Rockport",
          "Cedar Falls", "Elmwood", "Bayview", "Northfield", "Stonebridge", "Hillcrest", "Marston", "Ridgeway",
          "Holloway", "Pembroke", "Thornbury", "Wexford", "Ashford", "Langley", "Carlton", "Easton")
LANDMARKS = ("the central station", "the old harbour", "the university", "the airport", "the cathedral",
             "the exhibition centre", "the castle", "the city park")


def templated(rng: random.Random, mat: Material, lang: str) -> str:
    """Machine-made pages: one template looped over a list."""
    kind = rng.randrange(4)
    kws = mat.keywords(rng, "en", 3)
    if kind == 0:
        svc = " ".join(kws[:2])
        return "\n\n".join(
            f"Need {svc} in {c}? Compare {rng.randint(3, 40)} local {svc} providers in {c}. Every {svc} company "
            f"serving {c} is checked, and {c} customers rate their {svc} on our site. Get a free {svc} quote in {c} today."
            for c in rng.sample(CITIES, rng.randint(8, 20)))
    if kind == 1:
        city = rng.choice(CITIES)
        return "\n".join(
            f"{city}, {d:02d} {rng.choice(['March', 'April', 'May'])}: sunrise {rng.randint(5, 7)}:{rng.randint(0, 59):02d}, "
            f"sunset {rng.randint(18, 20)}:{rng.randint(0, 59):02d}, day length {rng.randint(11, 14)} h {rng.randint(0, 59)} min."
            for d in range(1, rng.randint(15, 31)))
    if kind == 2:
        a, b = rng.sample(CITIES, 2)
        return "\n".join(
            f"Train {rng.randint(100, 999)} from {a} to {b}: departs {h:02d}:{rng.randint(0, 59):02d}, arrives "
            f"{(h + rng.randint(1, 4)) % 24:02d}:{rng.randint(0, 59):02d}, {rng.randint(0, 3)} changes, from "
            f"{rng.randint(9, 90)}.{rng.randint(0, 99):02d} EUR"
            for h in sorted(rng.sample(range(5, 23), rng.randint(10, 18))))
    first = rng.randint(100, 900)
    return "\n".join(
        f"Lot {n}: {rng.choice(kws)} {rng.choice(kws)}, near {rng.choice(LANDMARKS)} - starting bid "
        f"{rng.randint(2, 900)} GBP - {rng.randint(0, 40)} bids - ends in {rng.randint(1, 9)} days - watch this lot"
        for n in range(first, first + rng.randint(15, 60)))


SHORT_UI = {
    "en": ["Show more", "Error 500 - Internal Server Error", "Please wait…", "1 2 3 … 12 Next", "Follow",
           "Log in to reply", "Nothing here yet.", "Tap to open", "See you next week!", "This thread is locked."],
    "de": ["Mehr anzeigen", "Fehler 500", "Bitte warten …", "Zum Antworten einloggen", "Noch nichts hier."],
    "fr": ["Afficher plus", "Erreur 500", "Veuillez patienter…", "Connectez-vous pour répondre", "Rien pour l'instant."],
    "es": ["Mostrar más", "Error 500", "Espere, por favor…", "Inicia sesión para responder", "Aún no hay nada."],
    "it": ["Mostra altro", "Errore 500", "Attendere prego…", "Accedi per rispondere", "Ancora niente qui."],
    "ru": ["Показать ещё", "Ошибка 500", "Пожалуйста, подождите…", "Войдите, чтобы ответить"],
    "zh": ["显示更多", "服务器错误 500", "请稍候……", "登录后回复"],
    "ja": ["もっと見る", "サーバーエラー 500", "しばらくお待ちください…", "返信するにはログイン"],
}


def short_fragment(rng: random.Random, mat: Material, lang: str) -> tuple[str, bool]:
    """(text, is an interface string), with this module's interface strings."""
    return dirt.short_fragment(rng, mat, lang, SHORT_UI)


# --- PII -----------------------------------------------------------------------------------------

PII_TEMPLATES = {
    "en": {"email": "Send your comments to {email} please.", "phone": "Our office number is {phone}.",
           "card": "Paid with {card} (valid thru {exp}).", "ip": "Logged access from {ip} at midnight."},
    "de": {"email": "Rückfragen bitte an {email}.", "phone": "Erreichbar unter {phone}.",
           "card": "Bezahlt mit Karte {card}, Ablauf {exp}.", "ip": "Anmeldung von {ip} protokolliert."},
    "fr": {"email": "Écrivez-nous : {email}", "phone": "Standard : {phone}", "card": "Payé avec la carte {card} (exp. {exp}).",
           "ip": "Accès enregistré depuis {ip}."},
    "es": {"email": "Dudas a {email}.", "phone": "Teléfono de contacto: {phone}", "card": "Pagado con {card}, vence {exp}.",
           "ip": "Conexión registrada desde {ip}."},
    "it": {"email": "Per informazioni: {email}", "phone": "Chiamaci al {phone}.", "card": "Pagato con la carta {card}, scad. {exp}.",
           "ip": "Accesso registrato da {ip}."},
    "ru": {"email": "Вопросы присылайте на {email}.", "phone": "Наш телефон: {phone}", "card": "Оплачено картой {card}, срок {exp}.",
           "ip": "Вход выполнен с адреса {ip}."},
    "zh": {"email": "意见请发送至 {email}", "phone": "办公电话：{phone}", "card": "付款卡号 {card}，到期 {exp}", "ip": "登录地址：{ip}"},
    "ja": {"email": "お問い合わせ：{email}", "phone": "代表番号：{phone}", "card": "お支払いカード {card}（期限 {exp}）", "ip": "アクセス元：{ip}"},
}
NAMES = ("amara", "bjorn", "chiara", "dario", "emeka", "freya", "goran", "hana", "ivo", "jelena", "kofi", "lena",
         "mateo", "nadia", "oskar", "priya", "radu", "sofia", "tomas", "yuki", "zora", "viktor")
PHONE_FORMATS = ("+1-{a3}-555-01{d2}", "+44 161 496 0{d3}", "+49 89 {d4} {d3}", "+33 4 {d2} {d2} {d2} {d2}",
                 "+39 06 {d4} {d4}", "+7 812 {d3} {d2} {d2}", "+86 21 {d4} {d4}", "03-{d4}-{d4}",
                 "+34 93 {d3} {d3}", "0{a3} {d3} {d4}")


def fake_email(rng: random.Random) -> str:
    first, last = rng.sample(NAMES, 2)
    user = rng.choice([f"{first}.{last}", f"{last}{rng.randint(1, 999)}", f"{first}-{last[0]}", f"info.{first}"])
    return f"{user}@{rng.choice(['example.com', 'example.net', 'post.example', 'mail.test', 'example.org'])}"


def fake_phone(rng: random.Random) -> str:
    return dirt.fake_phone(rng, PHONE_FORMATS)


def fake_card(rng: random.Random) -> str:
    """Mastercard numbers from the 2-series (2221-2720); "." also groups the digits."""
    return dirt.fake_card(rng, (2221, 2720), (" ", "-", "", "."))


def fake_ip(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 3:
        return f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
    return f"{['192.0.2', '198.51.100', '203.0.113'][kind]}.{rng.randint(1, 254)}"


PII_MAKERS = {"email": fake_email, "phone": fake_phone, "card": fake_card, "ip": fake_ip}


def insert_pii(rng: random.Random, text: str, lang: str) -> tuple[str, dict[str, int]]:
    """Insert 2..8 PII sentences between the paragraphs of a real document (cards expire 2026-2032)."""
    return dirt.insert_pii(rng, text, lang, PII_TEMPLATES, PII_MAKERS, (26, 32))


# --- near duplicates ------------------------------------------------------------------------------

NEAR_HEADERS = ("Mirror of {site}, fetched {date}", "{name} shared this on {date}", "Cached page — {site}",
                "Re: {w1}", "Copied from {site} on {date}", "[{name}] forwarded message")
NEAR_FOOTERS = ("Found on {site}", "Filed under {w1} / {w2}", "Updated {date}", "12 replies · 340 views",
                "Mirror: {site}", "Permalink · Report")


def _dotted_date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)}.{rng.randint(1, 12)}.20{rng.randint(15, 24)}"


def near_duplicate(rng: random.Random, text: str, target: float) -> tuple[str, float, int]:
    """dirt.near_duplicate (its word edits and Jaccard target) with this module's headers,
    footers, names, hosts and day.month.year dates."""
    return dirt.near_duplicate(rng, text, target, headers=NEAR_HEADERS, footers=NEAR_FOOTERS, names=NAMES,
                               host=site, date=_dotted_date)
