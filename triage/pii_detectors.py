"""Detectors for the personal data that needs more than one regular expression.

Each detector takes the original text and returns ``(start, end)`` spans; ``triage/pii.py`` decides
which kinds run, resolves overlaps and swaps the spans for placeholders.

- **phone**: Google's libphonenumber (``phonenumbers.PhoneNumberMatcher``, leniency VALID), run for
  each region of ``PII_PHONE_REGIONS``, so national formats of those countries ("020 7946 0958",
  "06 12 34 56 78", "(0)30 1234567") are found as well as every "+CC" or "00CC" number. A cheap
  pre-filter hands it only digit runs that could be a phone number, which keeps it fast.
- **dob**: a date (numeric, ISO or with a month name in en/fr/de/es) within a few words after a
  birth cue ("date of birth", "DOB", "born", "né le", "geboren am", "fecha de nacimiento", ...).
  Dates without such a cue (order dates, statement dates) are not personal data here.
- **account** / **sort_code**: a digit run after an account-number cue in en/fr/de/es, a UK sort
  code (12-34-56) or German BLZ after its cue. Card "ending in 1234" mentions are left alone: four
  digits identify nobody and agents need them.
- **address**: street lines (house number and street type in en/fr/de/es), UK postcodes, and
  5-digit postcodes followed by a town.
- **person**: no offline NER model is installable here (spaCy's models are not on PyPI; GLiNER and
  flair download weights at run time), so names are found by cues: an honorific ("Mr", "Mme",
  "Herr", "Sra."), a relation or introduction ("my husband", "name is", "ma fille", "mein Name ist",
  "me llamo"), a payee or payer ("to John Smith", two capitalised words), and the signature after a
  closing ("Kind regards,\nJane Doe"). A name once found is redacted wherever it recurs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

Span = tuple[int, int]

# --- phone ---------------------------------------------------------------------------------------

# Anything that could be a phone number: an optional + or (, then digits with the separators people
# type. The matcher decides; this only keeps it from scanning the whole ticket five times.
_PHONE_CANDIDATE = re.compile(r"(?:\+|\(\s*0\s*\)|\()?\d[\d \t().\-/]{5,22}\d")


# Dates parse as valid numbers in some regions ("03.05.2024" is a German landline shape).
_DATE_SHAPED = re.compile(r"\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}|\d{4}[./\-]\d{1,2}[./\-]\d{1,2}")
# Dates with a four-digit year are blanked out before the search, so "2026-12-01 00:10" does not
# run on into a phone-shaped "2026-12-01 00" (offsets are kept: same length, letters for digits).
_DATE_WITH_YEAR = re.compile(r"(?<!\d)(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}([./\-])\d{1,2}\1(?:19|20)\d{2})(?!\d)")


def phone_spans(text: str, *, regions: Iterable[str]) -> list[Span]:
    spans: list[Span] = []
    text = _DATE_WITH_YEAR.sub(lambda match: "x" * len(match.group(0)), text)
    for candidate in _PHONE_CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in candidate.group(0)) < 7 or _DATE_SHAPED.fullmatch(candidate.group(0).strip()):
            continue
        # A little context on each side lets the matcher see a leading "+" or "(" correctly.
        left = max(0, candidate.start() - 2)
        window = text[left : candidate.end() + 1]
        # An international number ("+33 ...", "0049 ...") reads the same from any region: try one.
        international = candidate.group(0).startswith(("+", "00"))
        for region in list(regions)[:1] if international else regions:
            found = [
                (left + match.start, left + match.end)
                for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID)
            ]
            if found:
                spans += found
                break
    return spans


# --- dates of birth ------------------------------------------------------------------------------

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|"
    "janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre|"
    "januar|jänner|februar|märz|maerz|juni|juli|oktober|dezember|"
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre"
)
_DATE = (
    r"(?:\d{1,2}[./\-]\d{1,2}[./\-](?:\d{4}|\d{2})"  # 14/03/1985, 14.03.85, 03-14-1985
    r"|\d{4}-\d{2}-\d{2}"  # 1985-03-14
    rf"|\d{{1,2}}(?:st|nd|rd|th|er|\.|º)?\s+(?:of\s+|de\s+)?(?:{_MONTHS})\.?,?\s+(?:de\s+|del\s+)?\d{{4}}"  # 14 March 1985
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"  # March 14, 1985
)
_BIRTH_CUE = (
    r"(?:date\s+of\s+birth|birth\s*date|birthday|d\.?\s?o\.?\s?b\.?|born(?:\s+on)?|"
    r"date\s+de\s+naissance|né(?:e|\(e\))?\s+le|née?\s+le|"
    r"geburtsdatum|geburtstag|geboren(?:\s+am)?|geb\.|"
    r"fecha\s+de\s+nacimiento|f\.\s?nac\.?|nacid[oa]\s+el|nací\s+el|cumpleaños)"
)
_DOB = re.compile(rf"{_BIRTH_CUE}[\s:,\-–]*(?:(?:is|was|est|ist|es|am|le|el|on|the|der|de|du)\s+)*"
                  rf"(?P<date>{_DATE})", re.IGNORECASE)


def dob_spans(text: str) -> list[Span]:
    return [match.span("date") for match in _DOB.finditer(text)]


# --- bank account numbers and sort codes -----------------------------------------------------------

_ACCOUNT = re.compile(
    r"(?:account\s+(?:number|no\.?|num\.?|#)|acct\.?\s*(?:no\.?|#)?|a/c(?:\s+no\.?)?|routing\s+number|"
    r"num[ée]ro\s+de\s+compte|n[°º]\s*de\s+compte|compte\s+n[°º]|"
    r"kontonummer|konto-?nr\.?|kto\.?-?nr\.?|"
    r"n[úu]mero\s+de\s+cuenta|n[°º]\s*de\s+cuenta|cuenta\s+n[°º])"
    r"[\s:.#]*(?:is\s+|est\s+|ist\s+|es\s+|lautet\s+)?(?P<number>\d(?:[ \-]?\d){5,23})(?!\d)",
    re.IGNORECASE,
)
_SORT_CODE = re.compile(
    r"(?:sort[\s\-]?code|s/c)[\s:.]*(?:is\s+)?(?P<code>\d{2}[\s\-]?\d{2}[\s\-]?\d{2})(?!\d)"
    r"|(?:blz|bankleitzahl)[\s:.]*(?P<blz>\d{3}\s?\d{3}\s?\d{2})(?!\d)",
    re.IGNORECASE,
)
# A bare "12-34-56" is a sort code in a UK ticket; dd-mm-yy dates use "/" or "." far more often.
_BARE_SORT_CODE = re.compile(r"(?<![\d\-/.])\d{2}-\d{2}-\d{2}(?![\d\-/]|\.\d)")


def account_spans(text: str) -> list[Span]:
    return [match.span("number") for match in _ACCOUNT.finditer(text)]


def sort_code_spans(text: str) -> list[Span]:
    spans = [match.span("code" if match.group("code") else "blz") for match in _SORT_CODE.finditer(text)]
    return spans + [match.span() for match in _BARE_SORT_CODE.finditer(text)]


# --- street addresses ------------------------------------------------------------------------------

_CAP = r"[A-ZÀ-ÖØ-Þ][\w'’\-]*"
# Bounded repeats and a space-only separator: the token class already takes "-", and an unbounded
# "(?:[ -]word)*" before a required suffix backtracks exponentially on "12 Ab-Ab-Ab-...!".
_NAME_WORDS = rf"{_CAP}(?: (?:{_CAP}|de|del|la|le|du|des|of|the|y)){{0,4}}"
_EN_STREET = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|close|way|court|ct|place|pl|boulevard|blvd|terrace|"
    r"crescent|gardens|square|sq|hill|parkway|row|mews|grove|walk|highway|hwy"
)
_ADDRESS_PATTERNS = [
    # 221B Baker Street, 1600 Pennsylvania Avenue NW, Flat 3, 12 Queen's Road
    rf"(?:(?:flat|apt\.?|apartment|unit|suite)\s+\w{{1,5}},?\s+)?\d{{1,5}}[A-Za-z]?,?\s+{_NAME_WORDS}\s+(?:{_EN_STREET})\b\.?"
    r"(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?",
    # 12 rue de la Paix, 5 bis avenue Victor Hugo, 3 chemin des Vignes
    r"\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|chemin|allée|place|impasse|quai|route|"
    r"cours|passage)\s+(?:(?:de|du|des|la|le|l'|d')\s*){0,3}[A-ZÀ-Þ][\w'’\-]*(?: (?:de|du|des|la|le|[A-ZÀ-Þ][\w'’\-]*)){0,4}",
    # Hauptstraße 5, Musterstr. 12a, Am Lindenhof 7, Goethe-Allee 3
    r"(?:[A-ZÄÖÜ][\wäöüß\-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|ufer|chaussee)|"
    r"(?:Am|An\s+der|Im|In\s+der|Auf\s+dem)\s+[A-ZÄÖÜ][\wäöüß\-]+)\s+\d{1,4}\s?[a-z]?\b",
    # Calle Mayor 12, C/ de Alcalá, 45, Avenida de la Constitución 3, Plaza Mayor 1, Carrer de Balmes 7
    r"(?:calle|c/|avenida|avda\.?|av\.|plaza|pza\.?|paseo|carrer|camino|ronda)\s*(?:(?:de|del|la|las|los|el)\s+){0,3}"
    r"[A-ZÁÉÍÓÚÑ][\wáéíóúñ'\-]*(?:\s+(?:de|del|la|las|los|[A-ZÁÉÍÓÚÑ][\wáéíóúñ'\-]*)){0,4},?\s*(?:n[ºo°]\s*)?\d{1,4}"
    r"(?:,?\s*\d{1,2}[ºª]\s*[A-Za-z]?)?",  # floor and door: "3º B"
    # UK postcode: SW1A 1AA, M1 1AE, EH8 9YL
    r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b",
    # US: "Springfield, IL 62704"; "NY 10001-1234"
    r"\b[A-Z]{2}\s\d{5}(?:-\d{4})?\b",
    # FR/DE/ES/IT: "75008 Paris", "10115 Berlin", "28013 Madrid", "D-80331 München"
    r"\b(?:[A-Z]-)?\d{5}\s+[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿß]+(?:[ \-](?:am|sur|en|de|del|la|le|[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿß]+)){0,3}",
]
_ADDRESS = re.compile("|".join(f"(?:{pattern})" for pattern in _ADDRESS_PATTERNS), re.IGNORECASE)
# IGNORECASE makes [A-Z] match anything; the postcode and capitalised-word parts need real case.
_POSTCODE_CASED = [
    re.compile(_ADDRESS_PATTERNS[4]),
    re.compile(_ADDRESS_PATTERNS[5]),
    re.compile(_ADDRESS_PATTERNS[6]),
]
_STREET_EN = re.compile(_ADDRESS_PATTERNS[0], re.IGNORECASE)
# The German pattern keeps its case: its street words are capitalised nouns ("auf dem iPhone 13" is not one).
_STREET_OTHERS = [re.compile(_ADDRESS_PATTERNS[1], re.IGNORECASE), re.compile(_ADDRESS_PATTERNS[2]),
                  re.compile(_ADDRESS_PATTERNS[3], re.IGNORECASE)]
# "2 Day Delivery", "3 Pro Max": capitalised product words that end like a street do not count.
_NOT_A_STREET_NUMBER_WORD = re.compile(r"^\d+\s*(?:x|gb|tb|mb|kg|km|mm|cm|eur|usd|gbp|%)\b", re.IGNORECASE)


def address_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in _STREET_EN.finditer(text):
        # The street name itself must be capitalised ("12 days in a row" is not an address).
        words = re.sub(r"^(?:(?:flat|apt\.?|apartment|unit|suite)\s+\w{1,5},?\s+)?\d{1,5}[A-Za-z]?,?\s+", "",
                       match.group(0), flags=re.IGNORECASE)
        if words[:1].isupper() and not _NOT_A_STREET_NUMBER_WORD.match(match.group(0)):
            spans.append(match.span())
    for pattern in _STREET_OTHERS:
        spans += [match.span() for match in pattern.finditer(text)]
    for pattern in _POSTCODE_CASED:
        spans += [match.span() for match in pattern.finditer(text)]
    return spans


# --- other people's names ---------------------------------------------------------------------------

_NAME_TOKEN = r"(?:Mc|Mac|O'|O’|D'|d')?[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿß]+(?:-[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿß]+)?"
_PARTICLE = r"(?:de|del|de\s+la|della|di|da|van|von|der|den|du|le|la|dos|das|y|zu)"
# One to three name words, particles allowed between them ("Ana de la Vega", "Jan van der Berg").
_FULL_NAME = rf"{_NAME_TOKEN}(?:\s+(?:{_PARTICLE}\s+)?{_NAME_TOKEN}){{0,2}}"
_TWO_WORD_NAME = rf"{_NAME_TOKEN}(?:\s+(?:{_PARTICLE}\s+)?{_NAME_TOKEN}){{1,2}}"
# Case-insensitive ("la señora Romero"), except the French "M." which would match "p.m.".
_HONORIFIC = (
    r"(?:(?i:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sir|Dame|Lady|Lord|Madame|Mme|Mlle|Mademoiselle|Monsieur|"
    r"Herr|Herrn|Frau|Fräulein|Señor|Señora|Señorita|Sr|Sra|Srta|Don|Doña|Dña)\.?|M\.)"
)
_RELATION = (
    r"(?:my|our|her|his|their|the\s+customer's|customer's)\s+(?:late\s+|ex-?)?(?:husband|wife|partner|spouse|son|daughter|mother|mum|mom|father|dad|"
    r"brother|sister|colleague|friend|neighbou?r|landlord|landlady|tenant|boss|manager|accountant|"
    r"grandmother|grandfather|aunt|uncle|cousin|flatmate|roommate|carer|lawyer|solicitor)|"
    r"(?:mon|ma|notre|son|sa|leur)\s+(?:mari|femme|épouse|conjoint|conjointe|compagnon|compagne|fils|fille|mère|père|"
    r"frère|sœur|soeur|collègue|ami|amie|voisin|voisine|propriétaire|comptable|avocat)|"
    r"(?:mein|meine|unser|unsere|ihr|ihre|sein|seine)\s+(?:Mann|Ehemann|Frau|Ehefrau|Partner|Partnerin|Sohn|Tochter|Mutter|"
    r"Vater|Bruder|Schwester|Kollege|Kollegin|Freund|Freundin|Nachbar|Nachbarin|Vermieter|Vermieterin|"
    r"Steuerberater)|"
    r"(?:mi|nuestro|nuestra|su)\s+(?:marido|esposo|esposa|mujer|pareja|hijo|hija|madre|padre|hermano|hermana|"
    r"compañero|compañera|amigo|amiga|vecino|vecina|casero|casera|jefe|jefa|abogado|gestor)"
)
_INTRODUCTION = (
    r"(?:my\s+name\s+is|name\s+is|i\s+am|i'm|this\s+is|called|named|account\s+holder(?:\s+is)?|"
    r"je\s+m'appelle|je\s+m’appelle|je\s+suis|au\s+nom\s+de|de\s+la\s+part\s+de|"
    r"ich\s+heiße|ich\s+heisse|mein\s+Name\s+ist|"
    r"me\s+llamo|mi\s+nombre\s+es|soy|a\s+nombre\s+de|de\s+parte\s+de)"
)
# "for", "by", "pour", "für", "por" precede company and product names far more often than people.
_PAYEE = r"(?:to|from|paid|pay|à|de|an|von|a|desde)"
_CLOSING = (
    r"(?:kind\s+regards|best\s+regards|regards|best\s+wishes|best|thanks|thank\s+you|many\s+thanks|cheers|"
    r"sincerely|yours\s+sincerely|yours\s+faithfully|cordialement|bien\s+à\s+vous|merci|bien\s+cordialement|"
    r"mit\s+freundlichen\s+grüßen|mit\s+freundlichen\s+gruessen|viele\s+grüße|liebe\s+grüße|beste\s+grüße|"
    r"grüße|gruß|lg|mfg|saludos|un\s+saludo|atentamente|gracias|muchas\s+gracias|cordialmente)"
)
_NAME_CUES = re.compile(
    rf"(?:\b{_HONORIFIC}\s+(?P<honorific>{_FULL_NAME})"
    rf"|\b(?i:{_RELATION}),?\s+(?P<relation>{_FULL_NAME})"
    rf"|\b(?i:{_INTRODUCTION})\s+(?P<intro>{_FULL_NAME})"
    rf"|\b(?i:{_PAYEE})\s+(?P<payee>{_TWO_WORD_NAME})"
    rf"|^\s*(?i:{_CLOSING})[,!.]?[ \t]*(?:\r?\n[ \t]*)?(?P<signature>{_FULL_NAME})[ \t]*$)",
    re.MULTILINE,
)
# Capitalised words that follow a cue without being a name ("I am Unable", "to Amazon Prime", "to
# Paris", a German noun after "von"). Checked on every word of a candidate's first word.
_NOT_NAMES = frozenset(
    """
    a an the i my our your his her their this that it we you they he she me us them
    unable sorry writing still not very so just really also happy glad afraid worried concerned
    monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
    january february march april may june july august september october november december
    english british french german spanish american european irish scottish welsh italian
    london paris berlin madrid barcelona manchester new york munich münchen lyon hamburg sevilla
    amazon paypal apple google visa mastercard amex netflix spotify uber ebay revolut monzo
    bank account card support team customer service services help manager please thanks thank hello hi
    dear sir madam mr mrs ms dr order invoice refund payment transfer iban swift sepa pin app online
    konto karte zahlung überweisung rechnung bestellung kunde kundin service bank hilfe geld
    compte carte paiement virement facture commande client banque aide
    cuenta tarjeta pago transferencia factura pedido cliente banco ayuda
    gmail outlook hotmail iphone android samsung windows mac
    ltd limited plc llc inc gmbh ag sa sas sl corp company co group holdings
    gas energy water electric power telecom telekom mobile royal mail post direct debit bonds premium
    insurance airways airlines store shop market supermarket pharmacy hotel hospital university school
    crédit credit agricole société générale caixa santander sparkasse volksbank deutsche commerzbank
    black cyber prime plus pro
    ihr ihre ihren ihrem ihrer sie ich wir der die das den dem des ein eine einen einem einer kein keine
    votre vos notre nos le la les un une des mon ma mes son sa ses leur
    su sus tu tus el los las uno una usted ustedes nuestro nuestra
    """.split()
)


def _plausible_name(candidate: str) -> bool:
    words = candidate.split()
    return bool(words) and not any(word.lower().strip(".,") in _NOT_NAMES for word in words)


def person_spans(text: str) -> list[Span]:
    spans: list[Span] = []
    names: set[str] = set()
    for match in _NAME_CUES.finditer(text):
        group = next(name for name in ("honorific", "relation", "intro", "payee", "signature") if match.group(name))
        candidate = match.group(group)
        # Trim trailing non-name words the greedy pattern took ("to Maria Lopez Yesterday").
        words = candidate.split()
        while words and words[-1].lower() in _NOT_NAMES:
            words.pop()
        if not words or not _plausible_name(" ".join(words[:1])):
            continue
        if group == "payee" and len(words) < 2:
            continue
        start = match.start(group)
        tokens = list(re.finditer(r"\S+", candidate))
        end = start + tokens[len(words) - 1].end()
        spans.append((start, end))
        names.add(text[start:end])
    # A name found once is redacted wherever it recurs ("Tom Ward ... Tom Ward said").
    for name in names:
        for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            spans.append(match.span())
    return spans
