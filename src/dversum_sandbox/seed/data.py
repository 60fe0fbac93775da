"""The demo workspace's content (seed.py turns it into API requests): clients, projects, tasks, documents.

Dates are day offsets from "today" in Berlin, so the workspace always looks current.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLIENTS",
    "CONTRACT_TEXT",
    "FILES",
    "INVOICES",
    "ORGANIZATION",
    "OTHER_ORGANIZATION",
    "PAGES",
    "PROJECTS",
    "QUOTES",
    "TASKS",
    "WORK",
]

ORGANIZATION = {
    "street": "Speicherstadt 12", "postal_code": "20457", "city": "Hamburg", "country": "DE",
    "vat_id": "DE298765432", "tax_number": "43/721/04711", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX",
    "bank_name": "Commerzbank Hamburg", "email": "buchhaltung@nordlicht-digital.de", "phone": "+49 40 1234567",
    "register_court": "Amtsgericht Hamburg", "register_number": "HRB 165432",
    "managing_directors": "Naumche Stojanovski",
}  # fmt: skip
"""Org A's seller data: everything §14 Abs. 4 UStG and EN 16931 want on an invoice."""

OTHER_ORGANIZATION = {
    "street": "Industriestraße 5", "postal_code": "50667", "city": "Köln", "country": "DE",
    "vat_id": "DE199887766", "tax_number": "215/5701/1234", "iban": "DE02120300000000202051", "bic": "BYLADEM1001",
    "bank_name": "Deutsche Kreditbank", "email": "rechnung@konkurrenz-ag.de", "register_court": "Amtsgericht Köln",
    "register_number": "HRB 99887", "managing_directors": "Karl Konkurrent",
}  # fmt: skip


def _client(
    name: str, email: str, vat: str, city: str, postal: str, street: str, person: str, color: str, country: str = ""
) -> dict[str, Any]:
    return {
        "name": name, "email": email, "vat_id": vat or None, "country": country or vat[:2], "city": city,
        "postal_code": postal, "street": street, "contact_person": person, "color": color,
    }  # fmt: skip


CLIENTS = [
    _client("ATAS Vertriebs GmbH", "kontakt@atas.de", "DE123456789", "Hamburg", "20095", "Mönckebergstraße 7",
            "Thomas Albers", "#45e59f"),
    _client("Bäckerei Schmidt KG", "info@baeckerei-schmidt.de", "DE234567891", "München", "80331",
            "Sendlinger Straße 21", "Maria Schmidt", "#f5a623"),
    _client("Müller & Söhne Maschinenbau GmbH", "einkauf@mueller-soehne.de", "DE345678912", "Stuttgart", "70173",
            "Königstraße 40", "Klaus Müller", "#4a90e2"),
    _client("Grünwerk Energie AG", "projekte@gruenwerk-energie.de", "DE456789123", "Freiburg im Breisgau", "79098",
            "Kaiser-Joseph-Straße 250", "Sabine Krüger", "#7ed321"),
    _client("Praxis Dr. Weber", "praxis@dr-weber-zahnarzt.de", "DE567891234", "Köln", "50667", "Hohe Straße 88",
            "Dr. Andreas Weber", "#bd10e0"),
    _client("Hotel Seeblick GmbH", "rezeption@hotel-seeblick.de", "DE678912345", "Konstanz", "78462",
            "Seestraße 3", "Julia Brandt", "#50e3c2"),
    _client("Alpenblick Tourismus GmbH", "office@alpenblick.at", "ATU12345678", "Innsbruck", "6020",
            "Maria-Theresien-Straße 18", "Florian Gruber", "#d0021b"),
    _client("Kanzlei Richter & Partner", "kanzlei@richter-partner.de", "DE789123456", "Berlin", "10117",
            "Friedrichstraße 120", "Dr. Petra Richter", "#9013fe"),
    _client("Bergsicht Outdoor AG", "einkauf@bergsicht.ch", "", "Zürich", "8001", "Bahnhofstrasse 52",
            "Reto Keller", "#8b572a", country="CH"),
]  # fmt: skip
"""Alpenblick (Austria, with a VAT id) is the EU business client, Bergsicht (Switzerland) the non-EU one."""

PROJECTS: list[dict[str, Any]] = [
    {"name": "Website-Relaunch ATAS", "client": "ATAS Vertriebs GmbH", "color": "#45e59f",
     "description": "Neues Design, CMS-Migration und Produktkatalog.", "budget_cents": 2_400_000,
     "hourly_rate_cents": 9_500},
    {"name": "Onlineshop Bäckerei Schmidt", "client": "Bäckerei Schmidt KG", "color": "#f5a623",
     "description": "Vorbestellung und Abholung für drei Filialen.", "budget_cents": 1_150_000,
     "hourly_rate_cents": 8_500},
    {"name": "SEO & Content Grünwerk", "client": "Grünwerk Energie AG", "color": "#7ed321",
     "description": "Technisches SEO, Redaktionsplan, monatliches Reporting.", "hourly_rate_cents": 9_000},
    {"name": "Interne Organisation", "client": None, "color": "#9b9b9b",
     "description": "Buchhaltung, Vertrieb, Weiterbildung."},
]  # fmt: skip

# (project index, title, column 0 To do / 1 In progress / 2 Done, due offset, assignees, priority, subtasks, comments)
TASKS: list[tuple[int, str, int, int, list[str], str, list[str], list[str]]] = [
    (0, "Sitemap und Informationsarchitektur abstimmen", 2, -20, ["naumche"], "high",
     ["Bestandsseiten exportieren", "Redirect-Liste anlegen"], ["<p>Sitemap ist freigegeben 👍</p>"]),
    (0, "Moodboard und Styleguide", 2, -14, ["lena"], "medium", ["Farbpalette", "Typografie"], []),
    (0, "Mockup für Landing Page", 1, 5, ["lena"], "high", ["Desktop", "Mobil", "Dark Mode prüfen"],
     ["<p>Erste Version liegt im Ordner Marketing.</p>", "<p>Bitte Hero-Bild tauschen, sonst top.</p>"]),
    (0, "CMS-Migration der Produktdaten", 1, 12, ["jonas"], "high", ["CSV-Export prüfen", "Import-Skript"], []),
    (0, "Kontaktformular mit Double-Opt-in", 0, 18, ["jonas"], "medium", [], []),
    (0, "Barrierefreiheit (WCAG 2.1 AA) testen", 0, 25, ["lena", "jonas"], "medium", [], []),
    (0, "Go-live Checkliste", 0, 32, ["naumche"], "urgent", ["DNS umstellen", "Tracking prüfen", "Backups"], []),
    (1, "Produktkatalog mit Allergenen erfassen", 2, -10, ["lena"], "medium", [], []),
    (1, "Zahlungsanbieter anbinden (PayPal, Karte)", 1, 7, ["jonas"], "high", ["Sandbox-Konto", "Webhooks"],
     ["<p>PayPal-Sandbox läuft, Kartenzahlung folgt.</p>"]),
    (1, "Abholzeiten pro Filiale konfigurieren", 0, 14, ["jonas"], "medium", [], []),
    (1, "Fotoshooting Backwaren organisieren", 0, 9, ["naumche"], "low", [], []),
    (1, "Datenschutzerklärung aktualisieren", 0, 20, ["naumche"], "high", [], []),
    (1, "Schulung Filialpersonal", 0, 28, ["lena"], "low", [], []),
    (2, "Technisches SEO-Audit", 2, -15, ["jonas"], "high", ["Crawl", "Core Web Vitals", "Indexierung"],
     ["<p>Audit-Bericht als PDF abgelegt.</p>"]),
    (2, "Keyword-Recherche Photovoltaik", 2, -8, ["lena"], "medium", [], []),
    (2, "Redaktionsplan Q3", 1, 4, ["lena"], "medium", ["Themen sammeln", "Autoren zuweisen"], []),
    (2, "Ratgeberartikel: Wärmepumpe vs. Gasheizung", 1, 6, ["lena"], "medium", [], []),
    (2, "Monatliches Reporting", 0, 3, ["naumche"], "high", [], []),
    (2, "Interne Verlinkung optimieren", 0, 16, ["jonas"], "low", [], []),
    (3, "Umsatzsteuer-Voranmeldung vorbereiten", 0, 7, ["naumche"], "urgent", [], []),
    (3, "Angebotsvorlagen überarbeiten", 1, 10, ["naumche"], "medium", [], []),
    (3, "Weiterbildung: Barrierefreiheitsstärkungsgesetz", 0, 21, ["lena", "jonas"], "low", [], []),
    (3, "Neue Laptops bestellen", 2, -5, ["naumche"], "low", [], ["<p>Bestellt, Lieferung Donnerstag.</p>"]),
    (3, "Team-Offsite planen", 0, 40, ["lena"], "low", ["Ort", "Agenda"], []),
    (3, "DATEV-Export für Steuerberater", 1, 2, ["naumche"], "high", [], []),
]  # fmt: skip

# Non-overlapping working blocks (Berlin time) per person: Naumche, Lena.
WORK = [
    [("08:30", "10:45"), ("11:00", "12:30"), ("13:30", "15:45"), ("16:00", "17:30")],
    [("09:00", "11:15"), ("11:30", "12:45"), ("13:45", "16:00"), ("16:15", "17:45")],
]


def _line(description: str, quantity: float, unit_price_cents: int, unit: str = "Std.") -> dict[str, Any]:
    return {"description": description, "quantity": quantity, "unit_price_cents": unit_price_cents,
            "tax_rate": 19, "unit": unit}  # fmt: skip


# (client, issue offset, due offset, state, lines, extra fields); sent in the order of their issue dates
INVOICES: list[tuple[str, int, int, str, list[dict[str, Any]], dict[str, Any]]] = [
    ("ATAS Vertriebs GmbH", 0, 14, "draft", [_line("Website-Relaunch, 2. Abschlag", 1, 450_000, "pauschal")], {}),
    ("Müller & Söhne Maschinenbau GmbH", -5, 9, "sent",
     [_line("Beratung Digitalstrategie", 8, 12_500), _line("Workshop-Unterlagen", 1, 35_000, "pauschal")],
     {"service_date": -6}),
    ("Bäckerei Schmidt KG", -12, 2, "partially_paid",
     [_line("Shop-Konzeption", 16, 8_500), _line("Hosting Setup", 1, 19_900, "pauschal")], {"service_date": -13}),
    ("Hotel Seeblick GmbH", -40, -26, "paid", [_line("Fotoshooting Zimmer und Restaurant", 1, 180_000, "pauschal")],
     {"service_date": -41}),
    ("ATAS Vertriebs GmbH", -35, -21, "paid", [_line("Wartung und Support", 1, 49_000, "Monat")],
     {"service_period": (-65, -36)}),
    ("Grünwerk Energie AG", -45, -31, "overdue",
     [_line("SEO-Audit", 12, 9_000), _line("Content-Erstellung, 4 Artikel", 4, 42_000, "Stk.")], {}),
    ("Alpenblick Tourismus GmbH", -3, 11, "sent",
     [{**_line("Buchungsstrecke Konzeption", 10, 9_500), "tax_rate": 0}],
     {"tax_treatment": "reverse_charge", "service_date": -4}),
    ("Bergsicht Outdoor AG", 0, 14, "draft",
     [{**_line("Bedruckte Messewände", 2, 129_000, "Stk."), "tax_rate": 0}], {"tax_treatment": "export"}),
]  # fmt: skip

# (client, title, state, lines)
QUOTES = [
    ("Grünwerk Energie AG", "SEO-Paket 2026", "draft", [_line("SEO-Betreuung", 12, 95_000, "Monat")]),
    ("Hotel Seeblick GmbH", "Neue Buchungsstrecke", "sent",
     [_line("Konzeption und Design", 24, 9_500), _line("Umsetzung", 40, 9_500)]),
    ("Kanzlei Richter & Partner", "Kanzlei-Website mit Terminbuchung", "signed",
     [_line("Webdesign", 1, 350_000, "pauschal"), _line("Terminbuchung einrichten", 6, 9_500)]),
]  # fmt: skip

CONTRACT_TEXT = """# Wartungs- und Supportvertrag

## § 1 Gegenstand
Nordlicht Digital GmbH übernimmt Wartung, Sicherheitsupdates und Support der Website www.atas.de.

## § 2 Leistungen
- Monatliche Updates von CMS und Plugins
- Tägliche Backups, 30 Tage Aufbewahrung
- Support werktags 9–17 Uhr, Reaktionszeit 4 Stunden

## § 3 Vergütung
490,00 € netto pro Monat, zahlbar zum Monatsanfang.

## § 4 Laufzeit und Kündigung
Unbefristet; Kündigung mit einer Frist von drei Monaten zum Monatsende.
"""

# (title, icon, parent index, project index, markdown)
PAGES: list[tuple[str, str, int | None, int | None, str]] = [
    ("Willkommen bei Nordlicht Digital", "👋", None, None, """# Willkommen im Team!

Hier findest du alles für deine ersten Tage.

## Erste Schritte
- [x] Laptop abholen
- [ ] Zugänge einrichten (E-Mail, dVersum, Figma)
- [ ] Datenschutzschulung absolvieren

## Ansprechpartner
| Thema | Person | E-Mail |
|---|---|---|
| Projekte | Naumche Stojanovski | naumche@nordlicht-digital.de |
| Design | Lena Hoffmann | lena@nordlicht-digital.de |
| Technik | Jonas Weber | jonas@nordlicht-digital.de |
"""),
    ("Prozesse & Checklisten", "📋", 0, None, """# Prozesse

## Neues Projekt
1. Angebot erstellen und versenden
2. Nach Unterschrift: Projekt anlegen, Kanban-Spalten prüfen
3. Kickoff-Termin über die Buchungsseite vereinbaren

## Rechnungsstellung
- [ ] Zeiten bis zum Monatsletzten erfassen
- [ ] Rechnungen am 1. Werktag versenden
- [ ] Offene Posten jeden Freitag prüfen
"""),
    ("Q2 Analyse", "📊", None, None, """# Q2 Analyse

| Metrik | Wert |
|---|---|
| Revenue | 41.804 € |
| Neue Kunden | 3 |
| Auslastung | 82 % |

## Fazit
Die **Auslastung** ist hoch; für Q3 planen wir eine zusätzliche Stelle im Bereich *Frontend*.
"""),
    ("Kickoff Website-Relaunch ATAS", "🚀", None, 0, """# Kickoff Website-Relaunch

## Ziele
- Mehr qualifizierte Anfragen über die Website
- Produktkatalog selbst pflegbar
- Ladezeit unter 2 Sekunden

## Meilensteine
| Meilenstein | Termin | Verantwortlich |
|---|---|---|
| Design freigegeben | KW 24 | Lena |
| Migration abgeschlossen | KW 27 | Jonas |
| Go-live | KW 30 | Naumche |

## Nächste Schritte
- [ ] Styleguide an ATAS senden
- [ ] Zugänge zum alten CMS anfragen
"""),
    ("Meeting-Notizen Abstimmung Design", "📝", 3, 0, """## Teilnehmer
Thomas Albers (ATAS), Lena Hoffmann, Naumche Stojanovski

## Ergebnisse
- Farbwelt bleibt grün, Akzentfarbe wird dunkler
- Produktfotos liefert ATAS bis Ende des Monats

> Nächster Termin in zwei Wochen.
"""),
]  # fmt: skip


def _pdf(text: str) -> bytes:
    """A small but well-formed one-page PDF showing `text`."""
    stream = f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


_CSV = """Datum;Mitarbeiter;Projekt;Stunden;Abrechenbar
02.05.;Naumche Stojanovski;Website-Relaunch ATAS;6,5;ja
02.05.;Lena Hoffmann;Onlineshop Bäckerei Schmidt;7,0;ja
03.05.;Jonas Weber;SEO & Content Grünwerk;5,25;ja
03.05.;Naumche Stojanovski;Interne Organisation;2,0;nein
"""

_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">
<rect width="120" height="40" rx="6" fill="#0b3d2e"/><text x="12" y="26" fill="#45e59f"
font-family="Helvetica" font-size="16">nordlicht</text></svg>
"""

# (folder path, file name, media type, bytes); the first file gets a password-protected share link.
FILES = [
    ("Verträge", "Wartungsvertrag_ATAS.pdf", "application/pdf", _pdf("Wartungsvertrag ATAS Vertriebs GmbH")),
    ("Rechnungen", "Zeiterfassung_Mai.csv", "text/csv", _CSV.encode()),
    ("", "Briefing_Relaunch.txt", "text/plain",
     b"Briefing Website-Relaunch ATAS\n\nZiel: moderne, schnelle Website mit Produktkatalog.\n"),
    ("Marketing", "Farbpalette.txt", "text/plain", b"Primaer #45e59f\nDunkel #0b3d2e\nAkzent #f5a623\n"),
    ("Marketing/Logos", "nordlicht-logo.svg", "image/svg+xml", _SVG.encode()),
]  # fmt: skip
