"""A few hundred deterministic demo people with Norwegian-looking names, spread over the systems."""
from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

SEED = 20261201
PEOPLE = 300
FIRST_NAMES = ("Kari", "Ola", "Ingrid", "Lars", "Sigrid", "Bjørn", "Astrid", "Håkon", "Solveig", "Eirik", "Ragnhild",
               "Magnus", "Hanne", "Øystein", "Marit", "Sindre", "Tuva", "Jørgen", "Silje", "Anders", "Åse", "Torbjørn",
               "Live", "Even", "Nora", "Henrik", "Maja", "Sander", "Ida", "Kristoffer")
LAST_NAMES = ("Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
              "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen",
              "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen", "Lund", "Sørensen", "Jakobsen",
              "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide", "Knutsen", "Martinsen",
              "Paulsen", "Bakken", "Kristoffersen", "Mathisen", "Lie", "Amundsen", "Nguyen", "Rasmussen", "Ali",
              "Lunde", "Solheim", "Berge", "Moe", "Nygård", "Bakke", "Kristensen", "Fredriksen", "Holm", "Lien",
              "Hauge", "Christensen", "Andresen", "Nielsen", "Knudsen", "Evensen", "Sæther", "Aas", "Myhre")
COMPANIES = ("Fjellbygg AS", "Nordlys Regnskap AS", "Havbris Sjømat AS", "Bergen Bilverksted AS", "Tromsø IT AS",
             "Vestland Transport AS", "Sørlandet Eiendom AS", "Trønder Energi Service AS", "Oslo Design AS",
             "Lofoten Reiseliv AS", "Mjøsa Landbruk SA", "Stavanger Kompetanse AS")
TITLES = ("Daglig leder", "Innkjøpssjef", "Økonomisjef", "Prosjektleder", "Rådgiver", "Salgssjef", "HR-leder",
          "Driftsleder")
STREETS = ("Storgata", "Kirkegata", "Strandveien", "Skolegata", "Parkveien", "Fjordgata", "Sjøgata", "Bakkeveien")
CITIES = (("0150", "Oslo"), ("5003", "Bergen"), ("7011", "Trondheim"), ("4006", "Stavanger"), ("9008", "Tromsø"),
          ("4611", "Kristiansand"), ("3015", "Drammen"), ("8006", "Bodø"))

#: always present, in every system, with a phone on file: what the demo and the tests ask for
KARI = "kari.nordmann@example.no"


@dataclass(frozen=True)
class Person:
    id: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    company: int | None  # index into COMPANIES
    title: str | None
    address: str
    joined: date
    in_crm: bool
    in_accounting: bool
    in_newsletter: bool
    in_chat: bool


def _ascii(text: str) -> str:
    text = text.lower().replace("ø", "o").replace("æ", "ae").replace("å", "aa")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def people() -> list[Person]:
    rng = random.Random(SEED)
    result = []
    seen: set[str] = set()
    for number in range(1, PEOPLE + 1):
        if number == 1:
            first, last = "Kari", "Nordmann"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{_ascii(first)}.{_ascii(last)}"
        email = f"{local}@example.no" if local + "@example.no" not in seen else f"{local}{number}@example.no"
        seen.add(email)
        phone = f"+47 {rng.choice('49')}{rng.randint(1000000, 9999999)}" if number == 1 or rng.random() < 0.6 else None
        if phone:
            phone = f"{phone[:7]} {phone[7:9]} {phone[9:]}"  # as people type them: "+47 912 34 567"
        street = f"{rng.choice(STREETS)} {rng.randint(1, 120)}"
        postcode, city = rng.choice(CITIES)
        company = rng.randrange(len(COMPANIES)) if rng.random() < 0.7 else None
        everywhere = number == 1
        result.append(Person(
            id=number, first_name=first, last_name=last, email=email, phone=phone, company=company,
            title=rng.choice(TITLES) if company is not None else None, address=f"{street}, {postcode} {city}",
            joined=date(2019, 1, 1) + timedelta(days=rng.randint(0, 2400)),
            in_crm=everywhere or rng.random() < 0.75, in_accounting=everywhere or rng.random() < 0.4,
            in_newsletter=everywhere or rng.random() < 0.35, in_chat=everywhere or rng.random() < 0.3,
        ))
    return result


def rng_for(system: str, person_id: int) -> random.Random:
    """Each system's details per person from their own stream: systems can change independently."""
    return random.Random(f"{SEED}:{system}:{person_id}")
