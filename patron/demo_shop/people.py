"""Who buys in the demo shop: names, places, phones and carriers for a handful of countries.

Small hand-written lists (no Faker): enough variety that lists and searches look real. Phone
prefixes are ranges that ``phonenumbers`` accepts as valid mobile numbers of the country.
Email domains are reserved names (RFC 2606), so demo data can never mail a real person.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class City:
    name: str
    region: str
    postal: str  # a template: '#' is a random digit


@dataclass(frozen=True)
class Carrier:
    name: str
    tracking_url: str  # '{}' takes the tracking number
    pattern: str  # '#' a digit, 'A' a capital letter


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    locale: str
    time_zone: str
    currency: str
    tax_rate: Decimal
    shipping_fee: Decimal  # in the country's currency, below the free-shipping threshold
    phone_prefixes: tuple[str, ...]
    phone_digits: int  # digits after the prefix
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[City, ...]
    streets: tuple[str, ...]
    number_first: bool  # "12 Main Street" rather than "Hauptstraße 12"
    carriers: tuple[Carrier, ...]
    company_suffixes: tuple[str, ...]
    email_domains: tuple[str, ...] = ("example.com", "example.net", "mail.example")


UPS = Carrier("UPS", "https://www.ups.com/track?tracknum={}", "1ZAAA###########")
DHL = Carrier("DHL", "https://www.dhl.com/track?tracking-id={}", "00340434############")
DPD = Carrier("DPD", "https://tracking.dpd.de/status/en_US/parcel/{}", "0###########AA")
HERMES = Carrier(
    "Hermes", "https://www.myhermes.de/empfangen/sendungsverfolgung/?{}", "H##############"
)

# fmt: off
COUNTRIES: tuple[Country, ...] = (
    Country(
        code="US",
        weight=30,
        locale="en-US",
        time_zone="America/New_York",
        currency="USD",
        tax_rate=Decimal("0.0725"),
        shipping_fee=Decimal("6.95"),
        phone_prefixes=("+1212", "+1312", "+1415", "+1617", "+1206", "+1512", "+1303", "+1404"),
        phone_digits=7,
        first_names=(
            "James", "Mary", "Michael", "Patricia", "Robert", "Jennifer", "David", "Linda",
            "William", "Elizabeth", "Chris", "Jessica", "Daniel", "Sarah", "Matthew", "Karen",
            "Anthony", "Emily", "Mark", "Ashley", "Joshua", "Megan", "Kevin", "Olivia",
            "Brian", "Madison", "Tyler", "Hannah", "Jordan", "Taylor",
        ),
        last_names=(
            "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
            "Rodriguez", "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas",
            "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark",
            "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Nguyen",
        ),
        cities=(
            City("New York", "NY", "100##"), City("Brooklyn", "NY", "112##"),
            City("Chicago", "IL", "606##"), City("San Francisco", "CA", "941##"),
            City("Los Angeles", "CA", "900##"), City("Boston", "MA", "021##"),
            City("Seattle", "WA", "981##"), City("Austin", "TX", "787##"),
            City("Denver", "CO", "802##"), City("Atlanta", "GA", "303##"),
            City("Portland", "OR", "972##"), City("Miami", "FL", "331##"),
        ),
        streets=(
            "Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Elm Street",
            "Washington Boulevard", "Park Avenue", "Lakeview Road", "Sunset Boulevard",
            "Pine Street", "Highland Avenue", "Broadway",
        ),
        number_first=True,
        carriers=(
            UPS,
            Carrier("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={}",
                    "9400##################"),
            Carrier("FedEx", "https://www.fedex.com/fedextrack/?trknbr={}", "############"),
        ),
        company_suffixes=("Inc.", "LLC", "Co."),
    ),
    Country(
        code="DE",
        weight=18,
        locale="de-DE",
        time_zone="Europe/Berlin",
        currency="EUR",
        tax_rate=Decimal("0.19"),
        shipping_fee=Decimal("4.90"),
        phone_prefixes=("+49151", "+49152", "+49157", "+49160", "+49170", "+49172", "+49176"),
        phone_digits=8,
        first_names=(
            "Anna", "Lena", "Julia", "Laura", "Sophie", "Marie", "Katharina", "Sarah", "Lea",
            "Hannah", "Jana", "Franziska", "Lukas", "Maximilian", "Jonas", "Leon", "Felix",
            "Paul", "Tobias", "Florian", "Sebastian", "Jan", "Niklas", "Moritz", "Jürgen",
            "Uwe", "Sabine", "Birgit", "Stefan", "Thomas",
        ),
        last_names=(
            "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
            "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
            "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann",
            "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann",
        ),
        cities=(
            City("Berlin", "Berlin", "10###"), City("Hamburg", "Hamburg", "20###"),
            City("München", "Bayern", "80###"), City("Köln", "Nordrhein-Westfalen", "50###"),
            City("Frankfurt am Main", "Hessen", "60###"),
            City("Stuttgart", "Baden-Württemberg", "70###"),
            City("Leipzig", "Sachsen", "04###"), City("Düsseldorf", "Nordrhein-Westfalen", "40###"),
            City("Dresden", "Sachsen", "01###"), City("Freiburg", "Baden-Württemberg", "79###"),
        ),
        streets=(
            "Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Lindenweg",
            "Bergstraße", "Kirchgasse", "Am Markt", "Goethestraße", "Schillerplatz",
            "Rosenweg", "Friedrichstraße",
        ),
        number_first=False,
        carriers=(DHL, DPD, HERMES),
        company_suffixes=("GmbH", "AG", "KG"),
        email_domains=("example.de", "mail.example", "post.example"),
    ),
    Country(
        code="GB",
        weight=14,
        locale="en-GB",
        time_zone="Europe/London",
        currency="GBP",
        tax_rate=Decimal("0.20"),
        shipping_fee=Decimal("3.95"),
        phone_prefixes=("+4474",),
        phone_digits=8,
        first_names=(
            "Oliver", "George", "Harry", "Jack", "Charlie", "Thomas", "Oscar", "William",
            "James", "Alfie", "Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace",
            "Ella", "Poppy", "Freya", "Rosie", "Imogen", "Callum", "Rhys", "Fiona", "Niamh",
        ),
        last_names=(
            "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts",
            "Green", "Hall", "Wood", "Jackson", "Clarke", "Hughes", "Edwards", "Turner",
        ),
        cities=(
            City("London", "Greater London", "SW1A #AA"), City("Manchester", "", "M# #AB"),
            City("Birmingham", "", "B## #AD"), City("Leeds", "", "LS# #AF"),
            City("Bristol", "", "BS# #AG"), City("Edinburgh", "Scotland", "EH# #AH"),
            City("Glasgow", "Scotland", "G## #AJ"), City("Cardiff", "Wales", "CF## #AL"),
            City("Brighton", "", "BN# #AN"), City("Oxford", "", "OX# #AP"),
        ),
        streets=(
            "High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane",
            "Manor Road", "Park Road", "Queen's Road", "Mill Lane", "The Crescent",
        ),
        number_first=True,
        carriers=(
            Carrier("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{}",
                    "AA#########GB"),
            DPD,
            Carrier("Evri", "https://www.evri.com/track/parcel/{}", "H##AAA#########"),
        ),
        company_suffixes=("Ltd", "PLC", "& Sons"),
        email_domains=("example.co.uk", "example.com", "mail.example"),
    ),
    Country(
        code="FR",
        weight=10,
        locale="fr-FR",
        time_zone="Europe/Paris",
        currency="EUR",
        tax_rate=Decimal("0.20"),
        shipping_fee=Decimal("5.50"),
        phone_prefixes=("+3361", "+3362", "+3364", "+3365", "+3366", "+3367", "+3377"),
        phone_digits=7,
        first_names=(
            "Louise", "Chloé", "Camille", "Manon", "Léa", "Inès", "Juliette", "Élodie",
            "Margaux", "Clémence", "Gabriel", "Louis", "Raphaël", "Arthur", "Hugo", "Jules",
            "Théo", "Lucas", "Nicolas", "Antoine", "Mathieu", "Julien", "Céline", "Sophie",
        ),
        last_names=(
            "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
            "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David",
            "Bertrand", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier",
        ),
        cities=(
            City("Paris", "Île-de-France", "750##"), City("Lyon", "Auvergne-Rhône-Alpes", "6900#"),
            City("Marseille", "Provence-Alpes-Côte d'Azur", "130##"),
            City("Toulouse", "Occitanie", "310##"), City("Bordeaux", "Nouvelle-Aquitaine", "330##"),
            City("Nantes", "Pays de la Loire", "440##"), City("Lille", "Hauts-de-France", "590##"),
            City("Strasbourg", "Grand Est", "670##"),
        ),
        streets=(
            "rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Saint-Michel",
            "rue des Lilas", "place de la République", "rue Pasteur", "allée des Tilleuls",
        ),
        number_first=True,
        carriers=(
            Carrier("Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code={}",
                    "6A###########"),
            Carrier("Chronopost", "https://www.chronopost.fr/fr/suivi-colis?listeNumerosLT={}",
                    "XA########FR"),
        ),
        company_suffixes=("SARL", "SAS", "SA"),
        email_domains=("example.fr", "mail.example", "example.net"),
    ),
    Country(
        code="NL",
        weight=8,
        locale="nl-NL",
        time_zone="Europe/Amsterdam",
        currency="EUR",
        tax_rate=Decimal("0.21"),
        shipping_fee=Decimal("4.95"),
        phone_prefixes=("+3161", "+3162", "+3163", "+3164", "+3165", "+3168"),
        phone_digits=7,
        first_names=(
            "Emma", "Julia", "Tess", "Sophie", "Fleur", "Anouk", "Sanne", "Lotte", "Femke",
            "Daan", "Sem", "Lucas", "Bram", "Thijs", "Jesse", "Ruben", "Joris", "Pieter",
            "Maarten", "Willem",
        ),
        last_names=(
            "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen",
            "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos",
            "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer",
        ),
        cities=(
            City("Amsterdam", "Noord-Holland", "10## AB"),
            City("Rotterdam", "Zuid-Holland", "30## CD"),
            City("Utrecht", "Utrecht", "35## EF"), City("Den Haag", "Zuid-Holland", "25## GH"),
            City("Eindhoven", "Noord-Brabant", "56## JK"),
            City("Groningen", "Groningen", "97## LM"),
        ),
        streets=(
            "Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Prinsengracht",
            "Keizersgracht", "Julianalaan", "Wilhelminastraat",
        ),
        number_first=False,
        carriers=(
            Carrier("PostNL", "https://jouw.postnl.nl/track-and-trace/{}", "3SAAAA#########"),
            DHL,
        ),
        company_suffixes=("B.V.", "N.V."),
        email_domains=("example.nl", "mail.example", "example.com"),
    ),
    Country(
        code="ES",
        weight=8,
        locale="es-ES",
        time_zone="Europe/Madrid",
        currency="EUR",
        tax_rate=Decimal("0.21"),
        shipping_fee=Decimal("4.50"),
        phone_prefixes=("+346",),
        phone_digits=8,
        first_names=(
            "Lucía", "María", "Paula", "Carmen", "Laura", "Sofía", "Marta", "Alba", "Elena",
            "Hugo", "Pablo", "Alejandro", "Daniel", "Javier", "Sergio", "Álvaro", "Diego",
            "Adrián", "Iván", "Raúl",
        ),
        last_names=(
            "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez",
            "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno",
            "Muñoz", "Álvarez", "Romero", "Navarro", "Torres",
        ),
        cities=(
            City("Madrid", "Comunidad de Madrid", "280##"), City("Barcelona", "Cataluña", "080##"),
            City("Valencia", "Comunidad Valenciana", "460##"),
            City("Sevilla", "Andalucía", "410##"),
            City("Bilbao", "País Vasco", "480##"), City("Málaga", "Andalucía", "290##"),
        ),
        streets=(
            "Calle Mayor", "Calle Real", "Avenida de la Constitución", "Calle del Sol",
            "Plaza de España", "Calle Nueva", "Paseo de Gracia", "Calle de Alcalá",
        ),
        number_first=False,
        carriers=(
            Carrier("Correos", "https://www.correos.es/es/es/herramientas/localizador?tracking={}",
                    "PQ###A#################"),
            Carrier("SEUR", "https://www.seur.com/livetracking/?segOnlineIdentificador={}",
                    "##############"),
        ),
        company_suffixes=("S.L.", "S.A."),
        email_domains=("example.es", "mail.example", "example.com"),
    ),
    Country(
        code="IT",
        weight=7,
        locale="it-IT",
        time_zone="Europe/Rome",
        currency="EUR",
        tax_rate=Decimal("0.22"),
        shipping_fee=Decimal("5.90"),
        phone_prefixes=("+39320", "+39328", "+39333", "+39338", "+39347", "+39349", "+39380"),
        phone_digits=7,
        first_names=(
            "Giulia", "Sofia", "Aurora", "Alice", "Ginevra", "Chiara", "Francesca", "Martina",
            "Valentina", "Leonardo", "Francesco", "Alessandro", "Lorenzo", "Matteo", "Andrea",
            "Marco", "Giuseppe", "Luca", "Davide", "Stefano",
        ),
        last_names=(
            "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
            "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa",
            "Giordano", "Rizzo", "Lombardi", "Moretti",
        ),
        cities=(
            City("Roma", "Lazio", "001##"), City("Milano", "Lombardia", "201##"),
            City("Napoli", "Campania", "801##"), City("Torino", "Piemonte", "101##"),
            City("Bologna", "Emilia-Romagna", "401##"), City("Firenze", "Toscana", "501##"),
        ),
        streets=(
            "Via Roma", "Via Garibaldi", "Corso Vittorio Emanuele", "Via Dante", "Via Mazzini",
            "Piazza del Popolo", "Via Verdi", "Via Cavour",
        ),
        number_first=False,
        carriers=(
            Carrier("Poste Italiane", "https://www.poste.it/cerca/index.html#/risultati/{}",
                    "AA#########IT"),
            Carrier("BRT", "https://vas.brt.it/vas/sped_det_show.hsm?Nspediz={}", "############"),
        ),
        company_suffixes=("S.r.l.", "S.p.A."),
        email_domains=("example.it", "mail.example", "example.net"),
    ),
)

COMPANY_WORDS = (
    "Atlas", "Northwind", "Bluebird", "Evergreen", "Harbor", "Juniper", "Summit", "Maple",
    "Silverline", "Oakridge", "Brightside", "Copperfield",
)
# fmt: on


def fill(rng: random.Random, template: str) -> str:
    """'#' becomes a random digit, 'A' a random capital letter; anything else stays."""
    count = template.count("#")
    digits = iter(f"{rng.randrange(10**count):0{count}d}")
    return "".join(
        next(digits) if char == "#" else chr(65 + rng.randrange(26)) if char == "A" else char
        for char in template
    )


def phone(rng: random.Random, country: Country) -> str:
    prefix = rng.choice(country.phone_prefixes)
    if country.code == "US":  # exchange codes start 2-9 and are never N11
        exchange = f"{rng.randint(2, 9)}{rng.randint(2, 9)}{rng.randrange(10)}"
        return f"{prefix}{exchange}{rng.randrange(10_000):04d}"
    return f"{prefix}{rng.randrange(10**country.phone_digits):0{country.phone_digits}d}"


def street_line(rng: random.Random, country: Country) -> str:
    street = rng.choice(country.streets)
    number = str(rng.randint(1, 180 if country.number_first else 90))
    if country.code == "FR" or country.number_first:
        return f"{number} {street}"
    if country.code in {"ES", "IT"}:
        return f"{street}, {number}"
    return f"{street} {number}"


def ascii_slug(value: str) -> str:
    """``"Müller"`` → ``"muller"``: the part of an email address a name becomes."""
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return "".join(char for char in plain.lower() if char.isalnum())
