"""A synthetic corpus in kg's curation format, for tests and benchmarks at scale (issue 5).

Everything is a pure function of a seed: `registry(seed)` is a world of states, their offices and
office-holders, cities, regions and organisations; `article(world, seed, index)` is one article
(text, facts, meta, exclusions) about a visit, a summit or talks of foreign ministers, whose every
evidence quote grounds in its text (a `kgc:prefix` is added where a quote occurs more than once) and
whose every sentence backs a fact or is excluded. Article `i` depends only on the seed and `i`, so a
corpus of 100 articles is the first 100 of a corpus of 1,000. `inject(...)` turns valid articles into
ones with a known set of SHACL violations, each of a different constraint, recorded in a manifest.

Seeds go through `random.Random(str)`, which hashes with SHA-512: the output does not depend on
PYTHONHASHSEED, the platform or the Python version's hash randomisation.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from kg.namespaces import EX, KG, SH
from kg.text import Folded, sentences

CAMEO = "https://example.org/kg/code/cameo/"
PLOVER = "https://example.org/kg/code/plover/"
DOM = "https://example.org/kg/code/domain/"

FIRST_DATE = dt.date(2015, 1, 5)
LAST_DATE = dt.date(2024, 12, 20)
INDEX_WIDTH = 5

# name, demonym, capital, another city. ASCII only and no full stops: the sentence splitter
# must see exactly the sentences the generator wrote.
STATES = (
    ("Argentina", "Argentine", "Buenos Aires", "Cordoba"), ("Australia", "Australian", "Canberra", "Sydney"),
    ("Austria", "Austrian", "Vienna", "Salzburg"), ("Brazil", "Brazilian", "Brasilia", "Sao Paulo"),
    ("Canada", "Canadian", "Ottawa", "Toronto"), ("Chile", "Chilean", "Santiago", "Valparaiso"),
    ("Colombia", "Colombian", "Bogota", "Medellin"), ("Denmark", "Danish", "Copenhagen", "Aarhus"),
    ("Egypt", "Egyptian", "Cairo", "Alexandria"), ("Ethiopia", "Ethiopian", "Addis Ababa", "Dire Dawa"),
    ("Finland", "Finnish", "Helsinki", "Tampere"), ("France", "French", "Paris", "Lyon"),
    ("Germany", "German", "Berlin", "Hamburg"), ("Ghana", "Ghanaian", "Accra", "Kumasi"),
    ("Greece", "Greek", "Athens", "Thessaloniki"), ("Hungary", "Hungarian", "Budapest", "Debrecen"),
    ("India", "Indian", "New Delhi", "Mumbai"), ("Indonesia", "Indonesian", "Jakarta", "Surabaya"),
    ("Ireland", "Irish", "Dublin", "Cork"), ("Italy", "Italian", "Rome", "Milan"),
    ("Japan", "Japanese", "Tokyo", "Osaka"), ("Kazakhstan", "Kazakh", "Astana", "Almaty"),
    ("Kenya", "Kenyan", "Nairobi", "Mombasa"), ("Malaysia", "Malaysian", "Kuala Lumpur", "Penang"),
    ("Mexico", "Mexican", "Mexico City", "Guadalajara"), ("Mongolia", "Mongolian", "Ulaanbaatar", "Erdenet"),
    ("Morocco", "Moroccan", "Rabat", "Casablanca"), ("Nigeria", "Nigerian", "Abuja", "Lagos"),
    ("Norway", "Norwegian", "Oslo", "Bergen"), ("Pakistan", "Pakistani", "Islamabad", "Karachi"),
    ("Peru", "Peruvian", "Lima", "Arequipa"), ("Poland", "Polish", "Warsaw", "Krakow"),
    ("Portugal", "Portuguese", "Lisbon", "Porto"), ("Senegal", "Senegalese", "Dakar", "Thies"),
    ("Spain", "Spanish", "Madrid", "Barcelona"), ("Sweden", "Swedish", "Stockholm", "Gothenburg"),
    ("Tanzania", "Tanzanian", "Dodoma", "Dar es Salaam"), ("Thailand", "Thai", "Bangkok", "Chiang Mai"),
    ("Turkey", "Turkish", "Ankara", "Istanbul"), ("Vietnam", "Vietnamese", "Hanoi", "Da Nang"),
)
ROLES = (  # (office key, title as written before a name, label pattern)
    ("president", "President", "President of {state}"),
    ("prime-minister", "Prime Minister", "Prime Minister of {state}"),
    ("foreign-minister", "Foreign Minister", "Foreign Minister of {state}"),
    ("trade-minister", "Trade Minister", "Minister of Trade of {state}"),
)
FIRST_NAMES = (
    "Ada", "Adrian", "Alma", "Amir", "Anna", "Arjun", "Bela", "Carla", "Chen", "Dana", "Daniel", "Dario", "Elena",
    "Emil", "Esra", "Farid", "Freya", "Hana", "Ibrahim", "Ines", "Ivan", "Jonas", "Julia", "Kemal", "Kofi", "Lara",
    "Leon", "Lina", "Luca", "Maya", "Mateo", "Mira", "Nadia", "Nikolai", "Noor", "Omar", "Oskar", "Paula", "Rafael",
    "Rosa", "Samir", "Sara", "Tariq", "Teresa", "Tomas", "Vera", "Viktor", "Yara", "Yusuf", "Zofia",
)
LAST_NAMES = (
    "Abara", "Adeyemi", "Almeida", "Andersen", "Bakker", "Barros", "Berg", "Castillo", "Costa", "Dahl", "Demir",
    "Duarte", "Eriksen", "Fischer", "Fonseca", "Gomez", "Haddad", "Halvorsen", "Ito", "Jensen", "Kader", "Kato",
    "Kaya", "Kovac", "Kumar", "Lindqvist", "Lopes", "Mansour", "Marin", "Mendes", "Moreau", "Mwangi", "Nakamura",
    "Navarro", "Novak", "Okafor", "Ortega", "Petrov", "Quispe", "Rahman", "Reyes", "Rossi", "Sato", "Silva",
    "Sokolov", "Tanaka", "Torres", "Varga", "Wolff", "Yilmaz",
)
REGIONS = ("Central Asia", "Southeast Asia", "East Africa", "West Africa", "Latin America", "Northern Europe",
           "the Mediterranean", "the Arctic")
ORGANISATIONS = ("Union of Coastal States", "Continental Trade Council", "Northern Cooperation Forum",
                 "Organisation for Regional Security", "Council of River Nations", "Alliance for Digital Trade",
                 "Southern Development Bank", "Association of Island States", "Eurasian Transport Union",
                 "Council for Energy Cooperation")
STUDY_TOPICS = ("Eurasian", "International", "Strategic", "Asian", "African", "European", "Latin American",
                "Security", "Development", "Trade")
AGREEMENT_DOMAINS = ("trade", "service-trade", "agricultural-export", "sports", "patents", "cultural-exchange",
                     "regional-economic-integration")
DOMAIN_TEXT = {
    "trade": "trade", "service-trade": "service trade", "agricultural-export": "agricultural export",
    "sports": "sports", "patents": "patents", "cultural-exchange": "cultural and people-to-people exchanges",
    "regional-economic-integration": "regional economic integration",
}
# cameo code, plover category (None where PLOVER codes nothing), what was said (past tense, after
# "<speaker> said that <own state>"), the paraphrase (present tense), domain it is also about
STATEMENTS = (
    ("032", "AGREE", "was ready to deepen political coordination with {other}",
     "{own} is ready to deepen political coordination with {other}.", None),
    ("030", "AGREE", "wanted to expand cooperation with {other} in many fields",
     "{own} wants to expand cooperation with {other}.", None),
    ("0311", "AGREE", "intended to increase trade and investment with {other}",
     "{own} intends to increase trade and investment with {other}.", "trade"),
    ("036", "AGREE", "hoped to hold further talks with {other} later this year",
     "{own} hopes to hold further talks with {other} this year.", None),
    ("051", "SUPPORT", "valued its long-standing friendship with {other}",
     "{own} values its friendship with {other}.", None),
    ("050", "SUPPORT", "would work with {other} on the reform of international institutions",
     "{own} will work with {other} to reform international institutions.", "international-order"),
    ("032", "AGREE", "supported closer coordination with {other} on multilateral platforms",
     "{own} supports closer coordination with {other} on multilateral platforms.", "multilateral-coordination"),
    ("030", "AGREE", "sought more cultural and people-to-people exchanges with {other}",
     "{own} seeks more cultural and people-to-people exchanges with {other}.", "cultural-exchange"),
    ("010", None, "would study the proposals of {other} carefully",
     "{own} will study the proposals of {other}.", None),
    ("111", "DISAPPROVE", "rejected unilateral sanctions against {other}",
     "{own} rejects unilateral sanctions against {other}.", None),
)
EXPERT_REMARKS = (
    ("051", "SUPPORT", "the talks showed how much the relationship between {a} and {b} had matured",
     "The talks show a mature relationship between {a} and {b}."),
    ("010", None, "the results of the meeting would take time to become visible",
     "The results of the meeting will take time to show."),
    ("051", "SUPPORT", "both {a} and {b} stood to gain from closer ties",
     "{a} and {b} both gain from closer ties."),
)
CONSENSUS_TOPICS = ("the next steps in economic cooperation", "regular consultations between their ministries",
                    "a joint plan for transport links", "closer coordination on regional security")
FILLERS = (  # (sentence, reason for excluding it)
    ("Relations between {a} and {b} have expanded steadily over the past decade.", "Background; no dated event or attributed statement."),
    ("Analysts see the meeting as a sign of warming ties between {a} and {b}.", "Unattributed commentary."),
    ("Trade between the two countries has grown in recent years.", "Background; no figures and no dated event."),
    ("The talks were held in a friendly and constructive atmosphere.", "Writer's characterisation of the talks; no fact."),
    ("Security was tight around the venue in {city}.", "Colour; no fact."),
    ("Journalists were not allowed into the conference hall.", "Colour; no fact."),
    ("The weather in {city} was mild for the season.", "Colour; no fact."),
    ("Both governments have invested heavily in diplomacy in recent years.", "Background; no dated event."),
    ("Observers expect further contacts between the two sides.", "Speculation of unnamed observers."),
    ("Details of the discussions were not made public.", "Says what is not known; no fact."),
    ("Officials on both sides declined to comment on the timetable.", "Refusal to comment; no statement with content."),
    ("The relationship has known difficult periods as well.", "Writer's background remark."),
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}


class SynthError(ValueError):
    """A request the generator cannot satisfy (e.g. more violations than the articles can hold)."""


# ---------------------------------------------------------------------------------------------------------
# The world: a registry of shared entities


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class State:
    id: str
    name: str
    demonym: str
    capital: str  # city id
    city: str  # city id


@dataclass(frozen=True)
class Office:
    id: str
    label: str
    title: str  # as written before a name: "Prime Minister"
    of: str  # state or organisation id
    holder: str  # person id


@dataclass(frozen=True)
class Entity:
    id: str
    label: str
    kind: str  # kg class local name
    parent: str | None = None  # kg:subOrganizationOf
    affiliation: str | None = None
    alt: str | None = None


@dataclass(frozen=True)
class World:
    seed: str
    states: tuple[State, ...]
    offices: tuple[Office, ...]
    people: tuple[Entity, ...]
    places: tuple[Entity, ...]
    organisations: tuple[Entity, ...]
    experts: tuple[str, ...]  # person ids of researchers (each holds one institute office)

    def label(self, id_: str) -> str:
        return self._labels()[id_]

    def office(self, state: str, role: str) -> Office:
        return self._offices()[(state, role)]

    def office_of_holder(self, person: str) -> Office:
        return self._held()[person]

    def state(self, id_: str) -> State:
        return next(s for s in self.states if s.id == id_)

    def _labels(self):
        if "_labels_cache" not in self.__dict__:
            labels = {s.id: s.name for s in self.states}
            labels.update({o.id: o.label for o in self.offices})
            labels.update({e.id: e.label for e in (*self.people, *self.places, *self.organisations)})
            object.__setattr__(self, "_labels_cache", labels)
        return self.__dict__["_labels_cache"]

    def _offices(self):
        if "_offices_cache" not in self.__dict__:
            keyed = {(o.of, o.id.removesuffix("-of-" + o.of)): o for o in self.offices}
            object.__setattr__(self, "_offices_cache", keyed)
        return self.__dict__["_offices_cache"]

    def _held(self):
        if "_held_cache" not in self.__dict__:
            object.__setattr__(self, "_held_cache", {o.holder: o for o in self.offices})
        return self.__dict__["_held_cache"]


def registry(seed: str | int) -> World:
    """The shared entities: 40 states with four offices each and their holders, two cities per state,
    regions, intergovernmental organisations, universities with research centres and their fellows."""
    rng = random.Random(f"kg-synth:{seed}:registry")
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    names_iter = iter(names)
    states, offices, people, places = [], [], [], []
    for name, demonym, capital, city in STATES:
        sid = slugify(name)
        states.append(State(sid, name, demonym, slugify(capital), slugify(city)))
        places += [Entity(slugify(capital), capital, "City"), Entity(slugify(city), city, "City")]
        for role, title, pattern in ROLES:
            person = next(names_iter)
            people.append(Entity(slugify(person), person, "Person"))
            offices.append(Office(f"{role}-of-{sid}", pattern.format(state=name), title, sid, slugify(person)))
    places += [Entity(slugify(r.removeprefix("the ")), r[0].upper() + r[1:], "Region") for r in REGIONS]
    organisations = [Entity(slugify(o), o, "IntergovernmentalOrganisation") for o in ORGANISATIONS]
    experts = []
    capitals = [s[2] for s in STATES]
    for number, topic in enumerate(STUDY_TOPICS):
        city = capitals[(number * 7) % len(capitals)]
        university = Entity(f"university-of-{slugify(city)}", f"University of {city}", "University")
        centre_name = f"Center for {topic} Studies"
        centre = Entity(slugify(f"{centre_name} {city}"), f"{centre_name} of the University of {city}",
                        "ResearchInstitute", parent=university.id)
        organisations += [university, centre]
        for _ in range(2):
            person = next(names_iter)
            pid = slugify(person)
            people.append(Entity(pid, person, "Person", affiliation=centre.id))
            office_id = f"research-fellow-{pid}"
            offices.append(Office(office_id, f"Research fellow, {centre.label}", "research fellow", centre.id, pid))
            experts.append(pid)
    return World(str(seed), tuple(states), tuple(offices), tuple(people), tuple(places), tuple(organisations),
                 tuple(experts))


def registry_turtle(world: World) -> str:
    lines = [_PREFIXES, "",
             f"# Synthetic registry written by `kg synth` (seed {world.seed}): invented people in real-sounding",
             "# offices. Deterministic from the seed; do not edit, regenerate.", "", "## States", ""]
    for s in world.states:
        lines += [f"ex:{s.id} a kg:State ;", f"    rdfs:label {_lit(s.name)}@en .", ""]
    lines += ["## People", ""]
    for p in world.people:
        extra = f" ;\n    kg:affiliation ex:{p.affiliation}" if p.affiliation else ""
        lines += [f"ex:{p.id} a kg:Person ;", f"    rdfs:label {_lit(p.label)}@en{extra} .", ""]
    lines += ["## Offices", ""]
    for o in world.offices:
        lines += [f"ex:{o.id} a kg:Office ;", f"    rdfs:label {_lit(o.label)}@en ;", f"    kg:officeOf ex:{o.of} .", ""]
    lines += ["## Places", ""]
    for p in world.places:
        lines += [f"ex:{p.id} a kg:{p.kind} ;", f"    rdfs:label {_lit(p.label)}@en .", ""]
    lines += ["## Organisations", ""]
    for o in world.organisations:
        extra = f" ;\n    kg:subOrganizationOf ex:{o.parent}" if o.parent else ""
        lines += [f"ex:{o.id} a kg:{o.kind} ;", f"    rdfs:label {_lit(o.label)}@en{extra} .", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------------------
# Facts and their Turtle


@dataclass
class Fact:
    """One curated fact: an IRI (local name under ex:), its classes and property values as Turtle terms,
    and its evidence quotes (quote, prefix or None)."""

    id: str
    role: str  # what it is in the article: "visit", "meeting-1", "statement", "holding", ...
    types: list[str]
    values: list[tuple[str, str]] = field(default_factory=list)  # (predicate, object) in Turtle
    evidence: list[tuple[str, str | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def get(self, predicate: str) -> list[str]:
        return [o for p, o in self.values if p == predicate]

    def drop(self, predicate: str) -> None:
        self.values = [(p, o) for p, o in self.values if p != predicate]

    def set(self, predicate: str, obj: str) -> None:
        self.values = [(p, obj if p == predicate else o) for p, o in self.values]


def facts_turtle(slug: str, facts: list[Fact]) -> str:
    lines = [_PREFIXES, "",
             f"# Facts of the synthetic article {slug} (written by `kg synth`).", ""]
    for fact in facts:
        body = [f"a {', '.join(fact.types)}"]
        grouped: dict[str, list[str]] = {}
        for p, o in fact.values:
            grouped.setdefault(p, []).append(o)
        body += [f"{p} {' , '.join(objects)}" for p, objects in grouped.items()]
        if fact.notes:
            body.append("skos:editorialNote " + " ,\n        ".join(f"{_lit(n)}@en" for n in fact.notes))
        if fact.evidence:
            quotes = [_lit(q) if prefix is None else f"[ kgc:exact {_lit(q)} ; kgc:prefix {_lit(prefix)} ]"
                      for q, prefix in fact.evidence]
            body.append("kgc:evidence " + " ,\n        ".join(quotes))
        lines.append(f"ex:{fact.id} " + " ;\n    ".join(body) + " .")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


_PREFIXES = "\n".join(
    f"@prefix {p}: <{iri}> ."
    for p, iri in (
        ("kg", KG), ("ex", EX), ("kgc", "https://example.org/kg/curation#"), ("cameo", CAMEO), ("plover", PLOVER),
        ("dom", DOM), ("skos", "http://www.w3.org/2004/02/skos/core#"),
        ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"), ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    )
)


def _lit(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _date(day: dt.date) -> str:
    return f'"{day.isoformat()}"^^xsd:date'


def _spoken(day: dt.date) -> str:
    return f"{WEEKDAYS[day.weekday()]}, {day.day} {MONTHS[day.month - 1]} {day.year}"


# ---------------------------------------------------------------------------------------------------------
# Articles


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    published: dt.date
    text: str
    facts: tuple[Fact, ...]
    exclusions: tuple[tuple[str, str], ...]  # (sentence, reason)

    def files(self) -> dict[str, str]:
        """File name in articles/<slug>/ -> content."""
        return {
            "article.txt": self.text,
            "facts.ttl": facts_turtle(self.slug, list(self.facts)),
            "meta.toml": (f"# Synthetic article written by `kg synth`.\ntitle = {_lit(self.title)}\n"
                          f'language = "en"\npublisher = "kg synth"\npublished = {self.published.isoformat()}\n'),
            "exclusions.toml": "# Sentences of article.txt that back no fact, each with the reason.\n" + "".join(
                f"\n[[exclude]]\nsentence = {_lit(s)}\nreason = {_lit(r)}\n" for s, r in self.exclusions),
        }


class _Draft:
    """An article being written: paragraphs of sentences, facts, and which quote backs which fact."""

    def __init__(self, slug: str, prefix: str):
        self.slug = slug
        self.prefix = prefix  # local-name prefix of this article's fact IRIs
        self.paragraphs: list[list[str]] = []
        self.facts: list[Fact] = []
        self.quotes: list[tuple[Fact, str, int, int, int]] = []  # fact, quote, paragraph, sentence, offset
        self.fillers: list[tuple[int, int, str]] = []  # paragraph, sentence, reason
        self.holdings: dict[str, Fact] = {}

    def paragraph(self) -> None:
        self.paragraphs.append([])

    def say(self, sentence: str, *quotes: tuple[Fact, str]) -> None:
        self.paragraphs[-1].append(sentence)
        for fact, quote in quotes:
            offset = sentence.find(quote)
            if offset < 0:
                raise AssertionError(f"quote {quote!r} not in {sentence!r}")
            self.quotes.append((fact, quote, len(self.paragraphs) - 1, len(self.paragraphs[-1]) - 1, offset))

    def filler(self, sentence: str, reason: str) -> None:
        self.paragraphs[-1].append(sentence)
        self.fillers.append((len(self.paragraphs) - 1, len(self.paragraphs[-1]) - 1, reason))

    def fact(self, name: str, role: str, *types: str) -> Fact:
        fact = Fact(f"{self.prefix}-{name}", role, [f"kg:{t}" for t in types])
        self.facts.append(fact)
        return fact

    def holding(self, world: World, person: str, day: dt.date) -> Fact:
        """The office-holding of `person` in this article (one per person), attested on `day`."""
        if person not in self.holdings:
            office = world.office_of_holder(person)
            fact = self.fact(f"holding-{person}", "holding", "OfficeHolding")
            fact.values += [("rdfs:label", f"{_lit(world.label(person) + ', ' + office.label)}@en"),
                            ("kg:holder", f"ex:{person}"), ("kg:office", f"ex:{office.id}"),
                            ("kg:attestedOn", _date(day))]
            self.holdings[person] = fact
        return self.holdings[person]

    def finish(self, title: str, published: dt.date) -> Article:
        text = "\n\n".join(" ".join(p) for p in self.paragraphs) + "\n"
        starts = []
        position = 0
        for p in self.paragraphs:
            row = []
            for s in p:
                row.append(position)
                position += len(s) + 1
            starts.append(row)
            position += 1
        split = sentences(text)
        written = [s for p in self.paragraphs for s in p]
        if [s.text for s in split] != written:
            raise AssertionError(f"{self.slug}: the sentence splitter does not see the sentences written")
        folded = Folded(text)
        for fact, quote, paragraph, sentence, offset in self.quotes:
            start = starts[paragraph][sentence] + offset
            evidence = (quote, _disambiguating_prefix(folded, text, quote, start))
            if evidence not in fact.evidence:
                fact.evidence.append(evidence)
        exclusions = tuple((self.paragraphs[p][s], reason) for p, s, reason in self.fillers)
        return Article(self.slug, title, published, text, tuple(self.facts), exclusions)


def _disambiguating_prefix(folded: Folded, text: str, quote: str, start: int) -> str | None:
    """None when `quote` occurs once in the text; else the fewest words before it that single it out."""
    spans = folded.find_all(quote)
    if len(spans) == 1:
        return None
    words = text[:start].split()
    for count in range(1, len(words) + 1):
        prefix = " ".join(words[-count:])
        chosen = [s for s in spans if folded.preceded_by(s, prefix)]
        if len(chosen) == 1 and chosen[0].start == start:
            return prefix
    raise AssertionError(f"cannot single out {quote!r} at {start}")


def _who(world: World, person: str) -> str:
    """'Norwegian Prime Minister Hana Kovac': how an article introduces a state's office-holder."""
    office = world.office_of_holder(person)
    return f"{world.state(office.of).demonym} {office.title} {world.label(person)}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _day(rng: random.Random) -> dt.date:
    return FIRST_DATE + dt.timedelta(days=rng.randrange((LAST_DATE - FIRST_DATE).days))


class _Writer:
    """Shared phrasing of the three kinds of article."""

    def __init__(self, world: World, rng: random.Random, draft: _Draft):
        self.world, self.rng, self.d = world, rng, draft
        self.clauses = list(range(len(STATEMENTS)))
        rng.shuffle(self.clauses)
        self.fillers = list(range(len(FILLERS)))
        rng.shuffle(self.fillers)

    def name(self, person: str) -> str:
        return self.world.label(person)

    def event(self, fact: Fact, label: str, values: list[tuple[str, str]], cameo: str, plover: str | None) -> Fact:
        fact.values += [("rdfs:label", f"{_lit(label)}@en"), *values, ("kg:cameo", f"cameo:{cameo}")]
        if plover:
            fact.values.append(("kg:plover", f"plover:{plover}"))
        return fact

    def statement(self, speaker: str, own: State, other: State, day: dt.date, during: Fact | None) -> None:
        cameo, plover, clause, paraphrase, domain = STATEMENTS[self.clauses.pop()]
        said = clause.format(other=other.name)
        quote = f"{self.name(speaker)} said that {own.name} {said}"
        fact = self.d.fact(f"statement-{len([f for f in self.d.facts if f.role == 'statement']) + 1}-{speaker}",
                           "statement", "Statement")
        about = [f"ex:{other.id}"] + ([f"dom:{domain}"] if domain else [])
        values = [("kg:speaker", f"ex:{speaker}"),
                  ("kg:paraphrase", _lit(paraphrase.format(own=own.name, other=other.name))),
                  *(("kg:about", a) for a in about)]
        if during is not None:
            values.append(("kg:madeDuring", f"ex:{during.id}"))
        values.append(("kg:startDate", _date(day)))
        self.event(fact, f"{self.name(speaker)} on relations with {other.name}, {day.day} {MONTHS[day.month - 1]} {day.year}",
                   values, cameo, plover)
        self.d.say(quote + ".", (fact, quote))

    def filler(self, **names: str) -> None:
        sentence, reason = FILLERS[self.fillers.pop()]
        self.d.filler(sentence.format(**names), reason)

    def maybe_filler(self, chance: float, **names: str) -> None:
        if self.rng.random() < chance:
            self.filler(**names)

    def signing(self, a: State, b: State, place: str, day: dt.date, during: Fact) -> None:
        count = self.rng.choice((1, 2, 2, 3))
        domains = self.rng.sample(AGREEMENT_DOMAINS, count)
        plural = "s" if count > 1 else ""
        signed = f"signed {NUMBERS[count]} agreement{plural}"
        when = f"{day.day} {MONTHS[day.month - 1]} {day.year}"
        signing = self.event(
            self.d.fact(f"signing-{a.id}-{b.id}", "signing", "AgreementSigning"),
            f"Signing of {a.name}-{b.name} agreements, {when}",
            [("kg:participant", f"ex:{a.id}"), ("kg:participant", f"ex:{b.id}"), ("kg:place", f"ex:{place}"),
             ("kg:startDate", _date(day)), ("kg:partOf", f"ex:{during.id}")], "057", "AGREE")
        quotes = [(signing, f"the two sides {signed}")]
        for domain in domains:
            agreement = self.d.fact(f"agreement-{a.id}-{b.id}-{domain}", "agreement", "FormalAgreement")
            agreement.values += [("rdfs:label", f"{_lit(f'{a.name}-{b.name} agreement on {DOMAIN_TEXT[domain]}, {when}')}@en"),
                                 ("kg:party", f"ex:{a.id}"), ("kg:party", f"ex:{b.id}"),
                                 ("kg:domain", f"dom:{domain}"), ("kg:signedDuring", f"ex:{signing.id}")]
            quotes += [(agreement, signed), (agreement, DOMAIN_TEXT[domain])]
        listing = _listing([DOMAIN_TEXT[x] for x in domains])
        self.d.say(f"After the talks, the two sides {signed} on {listing}.", *quotes)

    def consensus(self, one: str, other: str, during: Fact, day: dt.date) -> None:
        topic = self.rng.choice(CONSENSUS_TOPICS)
        fact = self.d.fact(f"consensus-{one}-{other}", "consensus", "Consensus")
        fact.values += [("rdfs:label", f"{_lit(f'Consensus of {self.name(one)} and {self.name(other)} on {topic}')}@en"),
                        ("kg:party", f"ex:{one}"), ("kg:party", f"ex:{other}"), ("kg:reachedDuring", f"ex:{during.id}")]
        quote = f"reached a consensus on {topic}"
        self.d.say(f"{self.name(one)} and {self.name(other)} {quote}.", (fact, quote))

    def expert(self, a: State, b: State, day: dt.date) -> None:
        person = self.rng.choice(self.world.experts)
        office = self.world.office_of_holder(person)
        centre = self.world.label(office.of)
        cameo, plover, remark, paraphrase = self.rng.choice(EXPERT_REMARKS)
        remark, paraphrase = remark.format(a=a.name, b=b.name), paraphrase.format(a=a.name, b=b.name)
        fact = self.d.fact(f"statement-expert-{person}", "statement", "Statement")
        self.event(fact, f"{self.name(person)} on the talks of {a.name} and {b.name}",
                   [("kg:speaker", f"ex:{person}"), ("kg:paraphrase", _lit(paraphrase)),
                    ("kg:about", f"ex:{a.id}"), ("kg:about", f"ex:{b.id}"), ("kg:startDate", _date(day))],
                   cameo, plover)
        fellow = f"a research fellow at the {centre}"
        holding = self.d.holding(self.world, person, day)
        self.d.say(f"{self.name(person)}, {fellow}, said that {remark}.", (fact, f"said that {remark}"), (holding, fellow))


def _visit(world: World, rng: random.Random, index: int) -> Article:
    a, b = rng.sample(world.states, 2)
    role = rng.choice(("president", "president", "prime-minister", "foreign-minister"))
    visitor = world.office(a.id, role).holder
    host = world.office(b.id, role).holder
    second = world.office(b.id, "prime-minister" if role == "president" else "president").holder
    days = rng.choice((2, 3))
    start = _day(rng)
    end = start + dt.timedelta(days=days - 1)
    first_meeting = start + dt.timedelta(days=rng.randrange(days))
    d = _Draft(f"{index:0{INDEX_WIDTH}d}-{visitor}-visits-{b.id}", f"a{index:0{INDEX_WIDTH}d}")
    w = _Writer(world, rng, d)
    names = {"a": a.name, "b": b.name, "city": world.label(b.capital)}
    capital = world.label(b.capital)
    state_visit = role == "president"
    kind = "state" if state_visit else "official"
    visit = w.event(
        d.fact(f"visit-{visitor}-to-{b.id}", "visit", "StateVisit" if state_visit else "OfficialVisit"),
        f"{w.name(visitor)}'s {kind} visit to {b.name}, {MONTHS[start.month - 1]} {start.year}",
        [("kg:visitor", f"ex:{visitor}"), ("kg:destination", f"ex:{b.id}"), ("kg:host", f"ex:{b.id}"),
         ("kg:participant", f"ex:{visitor}"), ("kg:startDate", _date(start)), ("kg:endDate", _date(end))],
        "042", "CONSULT")
    d.paragraph()
    visit_quote = f"{NUMBERS[days]}-day {kind} visit to {b.name}"
    d.say(f"{_who(world, visitor)} arrived in {capital} on {_spoken(start)} for a {visit_quote}.",
          (visit, visit_quote), (d.holding(world, visitor, first_meeting), _who(world, visitor)))
    w.maybe_filler(0.5, **names)

    d.paragraph()
    meeting = w.event(
        d.fact(f"meeting-{visitor}-{host}", "meeting", "BilateralMeeting"),
        f"Meeting of {w.name(visitor)} and {w.name(host)}, {capital}, {_spoken(first_meeting).split(', ', 1)[1]}",
        [("kg:participant", f"ex:{visitor}"), ("kg:participant", f"ex:{host}"), ("kg:host", f"ex:{host}"),
         ("kg:place", f"ex:{b.capital}"), ("kg:startDate", _date(first_meeting)), ("kg:partOf", f"ex:{visit.id}")],
        rng.choice(("040", "046")), "CONSULT")
    talks = f"{w.name(visitor)} held talks with {_who(world, host)} in {capital}"
    d.say(f"On {_spoken(first_meeting)}, {talks}.",
          (meeting, talks), (d.holding(world, host, first_meeting), _who(world, host)))
    w.statement(host, b, a, first_meeting, meeting)
    w.statement(visitor, a, b, first_meeting, meeting)
    w.maybe_filler(0.4, **names)
    if rng.random() < 0.7:
        d.paragraph()
        w.signing(a, b, b.capital, first_meeting, meeting)
    if rng.random() < 0.35:
        d.paragraph()
        w.consensus(visitor, host, meeting, first_meeting)
    if rng.random() < 0.6:
        other_day = start + dt.timedelta(days=rng.randrange(days))
        d.paragraph()
        second_meeting = w.event(
            d.fact(f"meeting-{visitor}-{second}", "meeting", "BilateralMeeting"),
            f"Meeting of {w.name(visitor)} and {w.name(second)}, {_spoken(other_day).split(', ', 1)[1]}",
            [("kg:participant", f"ex:{visitor}"), ("kg:participant", f"ex:{second}"), ("kg:host", f"ex:{second}"),
             ("kg:startDate", _date(other_day)), ("kg:partOf", f"ex:{visit.id}")], "043", "CONSULT")
        met = f"{w.name(visitor)} also met {_who(world, second)}"
        d.say(f"On {_spoken(other_day)}, {met}.",
              (second_meeting, met), (d.holding(world, second, other_day), _who(world, second)))
        if rng.random() < 0.5:
            w.statement(second, b, a, other_day, second_meeting)
    if rng.random() < 0.5:
        d.paragraph()
        w.expert(a, b, first_meeting)
    d.paragraph()
    ends = f"The visit ends on {_spoken(end)}"
    d.say(f"{ends}.", (visit, ends))
    w.maybe_filler(0.5, **names)
    return d.finish(f"{_who(world, visitor)} visits {b.name}", first_meeting)


def _summit(world: World, rng: random.Random, index: int) -> Article:
    host, a, b, c, e = rng.sample(world.states, 5)
    organisation = rng.choice([o for o in world.organisations if o.kind == "IntergovernmentalOrganisation"])
    city = rng.choice((host.capital, host.city))
    start = _day(rng)
    end = start + dt.timedelta(days=1)
    d = _Draft(f"{index:0{INDEX_WIDTH}d}-summit-in-{city}", f"a{index:0{INDEX_WIDTH}d}")
    w = _Writer(world, rng, d)
    names = {"a": a.name, "b": b.name, "city": world.label(city)}
    forum = w.event(
        d.fact(f"summit-{organisation.id}-{city}", "forum", "Forum"),
        f"{organisation.label} summit, {world.label(city)}, {MONTHS[start.month - 1]} {start.year}",
        [("kg:place", f"ex:{city}"), ("kg:host", f"ex:{host.id}"), ("kg:participant", f"ex:{host.id}"),
         ("kg:participant", f"ex:{a.id}"), ("kg:participant", f"ex:{b.id}"), ("kg:startDate", _date(start)),
         ("kg:endDate", _date(end))], "040", "CONSULT")
    d.paragraph()
    gathered = f"gathered in {world.label(city)} on {_spoken(start)} for a two-day summit"
    d.say(f"Leaders of the {organisation.label} {gathered}.", (forum, gathered))
    w.maybe_filler(0.3, **names)
    role = rng.choice(("president", "prime-minister"))
    pairs = [(a, b)] + ([(c, e)] if rng.random() < 0.5 else [])
    for number, (one_state, other_state) in enumerate(pairs):
        one = world.office(one_state.id, role).holder
        other = world.office(other_state.id, role).holder
        day = start + dt.timedelta(days=rng.randrange(2))
        d.paragraph()
        meeting = w.event(
            d.fact(f"meeting-{one}-{other}", "meeting", "BilateralMeeting"),
            f"Meeting of {w.name(one)} and {w.name(other)}, {world.label(city)}, {_spoken(day).split(', ', 1)[1]}",
            [("kg:participant", f"ex:{one}"), ("kg:participant", f"ex:{other}"), ("kg:place", f"ex:{city}"),
             ("kg:startDate", _date(day)), ("kg:partOf", f"ex:{forum.id}")], "040", "CONSULT")
        met = f"{_who(world, one)} {'met' if number == 0 else 'also held talks with'} {_who(world, other)}"
        d.say(f"On {_spoken(day)}, on the sidelines of the summit, {met}.", (meeting, met),
              (d.holding(world, one, day), _who(world, one)), (d.holding(world, other, day), _who(world, other)))
        w.statement(one, one_state, other_state, day, meeting)
        if number == 0:
            w.statement(other, other_state, one_state, day, meeting)
            if rng.random() < 0.4:
                w.consensus(one, other, meeting, day)
        w.maybe_filler(0.3, **names)
    if rng.random() < 0.4:
        d.paragraph()
        w.expert(a, b, start)
    d.paragraph()
    closes = f"The summit closes on {_spoken(end)}"
    d.say(f"{closes}.", (forum, closes))
    return d.finish(f"{organisation.label} summit opens in {world.label(city)}", start)


def _talks(world: World, rng: random.Random, index: int) -> Article:
    a, b = rng.sample(world.states, 2)
    one = world.office(a.id, "foreign-minister").holder
    other = world.office(b.id, "foreign-minister").holder
    day = _day(rng)
    capital = world.label(b.capital)
    d = _Draft(f"{index:0{INDEX_WIDTH}d}-{a.id}-{b.id}-foreign-ministers-talks", f"a{index:0{INDEX_WIDTH}d}")
    w = _Writer(world, rng, d)
    names = {"a": a.name, "b": b.name, "city": capital}
    meeting = w.event(
        d.fact(f"meeting-{one}-{other}", "meeting", "BilateralMeeting"),
        f"Talks of the foreign ministers of {a.name} and {b.name}, {capital}, {_spoken(day).split(', ', 1)[1]}",
        [("kg:participant", f"ex:{one}"), ("kg:participant", f"ex:{other}"), ("kg:host", f"ex:{other}"),
         ("kg:place", f"ex:{b.capital}"), ("kg:startDate", _date(day))], "046", "CONSULT")
    d.paragraph()
    talks = f"{_who(world, one)} and {_who(world, other)} held talks in {capital} on {_spoken(day)}"
    d.say(f"{talks}.", (meeting, talks), (d.holding(world, one, day), _who(world, one)),
          (d.holding(world, other, day), _who(world, other)))
    w.maybe_filler(0.5, **names)
    d.paragraph()
    w.statement(one, a, b, day, meeting)
    w.statement(other, b, a, day, meeting)
    if rng.random() < 0.5:
        d.paragraph()
        w.signing(a, b, b.capital, day, meeting)
    if rng.random() < 0.3:
        w.consensus(one, other, meeting, day)
    if rng.random() < 0.4:
        d.paragraph()
        w.expert(a, b, day)
    w.maybe_filler(0.5, **names)
    return d.finish(f"Foreign ministers of {a.name} and {b.name} meet in {capital}", day)


def article(world: World, index: int) -> Article:
    """Article number `index` (1-based) of the corpus of `world.seed`: 60 % visits, 25 % summits, 15 % talks."""
    rng = random.Random(f"kg-synth:{world.seed}:article:{index}")
    pick = rng.random()
    kind = _visit if pick < 0.6 else _summit if pick < 0.85 else _talks
    return kind(world, rng, index)


def corpus(world: World, articles: int) -> Iterator[Article]:
    for index in range(1, articles + 1):
        yield article(world, index)


# ---------------------------------------------------------------------------------------------------------
# Known violations


@dataclass(frozen=True)
class Violation:
    """One injected violation and the SHACL result it must produce (full IRIs)."""

    article: str  # slug
    focus: str
    shape: str  # sh:sourceShape as kg reports it (the property shape, or the node shape of a SPARQL constraint)
    constraint: str  # the property shape or SPARQL constraint, by kg's naming (kg:<Class>Shape-<what>)
    component: str  # sh:sourceConstraintComponent
    kind: str
    description: str


@dataclass(frozen=True)
class _Kind:
    name: str
    description: str
    applies: Callable[[Fact, list[Fact]], bool]
    mutate: Callable[[Fact, list[Fact], World], None]
    shape: Callable[[Fact], str]  # local name under kg:
    constraint: Callable[[Fact], str]
    component: str  # local name under sh:
    claims: Callable[[Fact, list[Fact]], list[Fact]] = lambda fact, facts: []  # other facts it reads or changes


def _by_id(facts: list[Fact], term: str) -> Fact | None:
    return next((f for f in facts if f"ex:{f.id}" == term), None)


def _parts(fact: Fact, facts: list[Fact]) -> list[Fact]:
    return [f for f in facts if f"ex:{fact.id}" in f.get("kg:partOf")]


def _signed(fact: Fact, facts: list[Fact]) -> list[Fact]:
    return [f for f in facts if f"ex:{fact.id}" in f.get("kg:signedDuring")]


def _compatriot(fact: Fact, facts: list[Fact], world: World) -> None:
    first = fact.get("kg:participant")[0].removeprefix("ex:")
    state = world.office_of_holder(first).of
    other = next(o.holder for o in world.offices if o.of == state and o.holder != first)
    fact.values = [(p, o) for p, o in fact.values if p != "kg:host"]
    participants = [f"ex:{first}", f"ex:{other}"]
    fact.values = [(p, o) for p, o in fact.values if p != "kg:participant"] + [("kg:participant", x) for x in participants]


def _period_reversed(fact: Fact, facts: list[Fact], world: World) -> None:
    day = dt.date.fromisoformat(fact.get("kg:attestedOn")[0][1:11])
    fact.values += [("kg:startDate", _date(day)), ("kg:endDate", _date(day - dt.timedelta(days=365)))]


def _outside_whole(fact: Fact, facts: list[Fact], world: World) -> None:
    whole = _by_id(facts, fact.get("kg:partOf")[0])
    start = dt.date.fromisoformat(whole.get("kg:startDate")[0][1:11])
    fact.set("kg:startDate", _date(start - dt.timedelta(days=30)))


def _visitor_state(fact: Fact, world: World) -> str:
    return "ex:" + world.office_of_holder(fact.get("kg:visitor")[0].removeprefix("ex:")).of


def _unsign(fact: Fact, facts: list[Fact], world: World) -> None:
    for agreement in _signed(fact, facts):
        agreement.drop("kg:signedDuring")


def _sign_twice(fact: Fact, facts: list[Fact], world: World) -> None:
    signing = _by_id(facts, fact.get("kg:signedDuring")[0])
    fact.values.append(("kg:signedDuring", signing.get("kg:partOf")[0]))


def _relabel(fact: Fact, facts: list[Fact], world: World) -> None:
    label = fact.get("rdfs:label")[0]
    fact.set("rdfs:label", label.removesuffix("@en") + "@fr")


def _is(*roles: str) -> Callable[[Fact, list[Fact]], bool]:
    return lambda fact, facts: fact.role in roles


def _named(name: str) -> Callable[[Fact], str]:
    return lambda fact: name


KINDS: tuple[_Kind, ...] = (
    _Kind("meeting-without-date", "a meeting without a date", _is("meeting"),
          lambda f, fs, w: f.drop("kg:startDate"), _named("MeetingShape-startDate"), _named("MeetingShape-startDate"),
          "MinCountConstraintComponent", lambda f, fs: _parts(f, fs)),
    _Kind("bilateral-meeting-of-one-state", "a bilateral meeting whose participants hold offices of one state",
          _is("meeting"), _compatriot, _named("BilateralMeetingShape"), _named("BilateralMeetingShape-twoStates"),
          "SPARQLConstraintComponent"),
    _Kind("end-before-start", "an office-holding that ends before it starts", _is("holding"), _period_reversed,
          _named("PeriodShape"), _named("PeriodShape-order"), "SPARQLConstraintComponent"),
    _Kind("cameo-code-from-plover", "a statement whose kg:cameo is a PLOVER category, not a CAMEO code", _is("statement"),
          lambda f, fs, w: f.set("kg:cameo", "plover:AGREE"), _named("EventShape-cameo"), _named("EventShape-cameo"),
          "InConstraintComponent"),
    _Kind("plover-code-from-cameo", "an event whose kg:plover is a CAMEO code",
          lambda f, fs: bool(f.get("kg:plover")) and f.role != "statement",
          lambda f, fs, w: f.set("kg:plover", "cameo:040"), _named("EventShape-plover"), _named("EventShape-plover"),
          "InConstraintComponent"),
    _Kind("domain-from-cameo", "an agreement whose kg:domain is a CAMEO code", _is("agreement"),
          lambda f, fs, w: f.set("kg:domain", "cameo:057"), _named("AgreementShape-domain"),
          _named("AgreementShape-domain"), "InConstraintComponent"),
    _Kind("visit-at-home", "a visit to the visitor's own state", _is("visit"),
          lambda f, fs, w: f.set("kg:destination", _visitor_state(f, w)), _named("VisitShape"),
          _named("VisitShape-abroad"), "SPARQLConstraintComponent"),
    _Kind("statement-without-speaker", "a statement without a speaker", _is("statement"),
          lambda f, fs, w: f.drop("kg:speaker"), _named("StatementShape-speaker"), _named("StatementShape-speaker"),
          "MinCountConstraintComponent"),
    _Kind("agreement-without-party", "an agreement without parties", _is("agreement"),
          lambda f, fs, w: f.drop("kg:party"), _named("AgreementShape-party"), _named("AgreementShape-party"),
          "MinCountConstraintComponent"),
    _Kind("signing-without-agreement", "an agreement signing at which nothing was signed", _is("signing"), _unsign,
          _named("AgreementSigningShape-signed"), _named("AgreementSigningShape-signed"), "MinCountConstraintComponent",
          lambda f, fs: _signed(f, fs)),
    _Kind("agreement-signed-twice", "a formal agreement signed during two events", _is("agreement"), _sign_twice,
          _named("FormalAgreementShape-signedDuring"), _named("FormalAgreementShape-signedDuring"),
          "MaxCountConstraintComponent"),
    _Kind("holding-without-date", "an office-holding attested on no date", _is("holding"),
          lambda f, fs, w: f.drop("kg:attestedOn"), _named("OfficeHoldingShape-attestedOn"),
          _named("OfficeHoldingShape-attestedOn"), "MinCountConstraintComponent"),
    _Kind("part-outside-whole", "an event dated outside the event it is part of",
          lambda f, fs: bool(f.get("kg:partOf")) and not _parts(f, fs), _outside_whole, _named("PartShape"),
          _named("PartShape-withinWhole"), "SPARQLConstraintComponent",
          lambda f, fs: [_by_id(fs, f.get("kg:partOf")[0])]),
    _Kind("two-paraphrases", "a statement with two paraphrases", _is("statement"),
          lambda f, fs, w: f.values.append(("kg:paraphrase", _lit("A second, different paraphrase."))),
          _named("StatementShape-paraphrase"), _named("StatementShape-paraphrase"), "MaxCountConstraintComponent"),
    _Kind("visitor-not-a-person", "a state or official visit paid by a state", _is("visit"),
          lambda f, fs, w: f.set("kg:visitor", _visitor_state(f, w)),
          lambda f: "StateVisitShape-visitor" if "kg:StateVisit" in f.types else "OfficialVisitShape-visitor",
          lambda f: "StateVisitShape-visitor" if "kg:StateVisit" in f.types else "OfficialVisitShape-visitor",
          "ClassConstraintComponent"),
    _Kind("label-not-english", "a statement labelled in French, not English", _is("statement"), _relabel,
          _named("OptionalEnglishLabel"), _named("OptionalEnglishLabel"), "LanguageInConstraintComponent"),
    _Kind("consensus-without-talks", "a consensus reached during no event", _is("consensus"),
          lambda f, fs, w: f.drop("kg:reachedDuring"), _named("ConsensusShape-reachedDuring"),
          _named("ConsensusShape-reachedDuring"), "MinCountConstraintComponent"),
    _Kind("visit-without-destination", "a visit without a destination", _is("visit"),
          lambda f, fs, w: f.drop("kg:destination"), _named("VisitShape-destination"),
          _named("VisitShape-destination"), "MinCountConstraintComponent"),
    _Kind("forum-without-place", "a summit without a place", _is("forum"), lambda f, fs, w: f.drop("kg:place"),
          _named("ForumShape-place"), _named("ForumShape-place"), "MinCountConstraintComponent"),
)


def inject(world: World, articles: list[Article], count: int) -> tuple[list[Article], tuple[Violation, ...]]:
    """Copies of `articles` with `count` violations, each changing a different fact. The first
    len(KINDS) violations are all of different kinds (so of different constraints); more repeat kinds.
    Violation j goes to the first article from number j (mod N) that has a fact it applies to and
    that no other violation touches."""
    import copy

    articles = [replace(a, facts=tuple(copy.deepcopy(list(a.facts)))) for a in articles]
    claimed: set[str] = set()
    violations = []
    # Kinds that claim several facts or need a rare one are placed first, so that a small corpus
    # can hold one violation of every kind.
    scarce = ("signing-without-agreement", "part-outside-whole", "forum-without-place", "consensus-without-talks",
              "meeting-without-date", "visit-at-home", "visitor-not-a-person", "visit-without-destination")
    order = sorted(range(count), key=lambda n: (
        scarce.index(KINDS[n % len(KINDS)].name) if KINDS[n % len(KINDS)].name in scarce else len(scarce), n))
    for number in order:
        kind = KINDS[number % len(KINDS)]
        placed = False
        for step in range(len(articles)):
            chosen = articles[(number + step) % len(articles)]
            facts = list(chosen.facts)
            for fact in facts:
                if fact.id in claimed or not kind.applies(fact, facts):
                    continue
                involved = [fact, *kind.claims(fact, facts)]
                if any(f.id in claimed for f in involved):
                    continue
                kind.mutate(fact, facts, world)
                claimed.update(f.id for f in involved)
                violations.append(Violation(
                    chosen.slug, EX + fact.id, KG + kind.shape(fact), KG + kind.constraint(fact),
                    SH + kind.component, kind.name, kind.description))
                placed = True
                break
            if placed:
                break
        if not placed:
            raise SynthError(f"cannot place violation {number + 1} ({kind.description}) in {len(articles)} "
                             "article(s): generate more articles")
    return articles, tuple(sorted(violations, key=lambda v: (v.article, v.focus, v.constraint)))


def manifest(seed: str | int, articles: int, violations: tuple[Violation, ...]) -> str:
    data = {
        "seed": str(seed),
        "articles": articles,
        "violations": [
            {"article": v.article, "focus": v.focus, "shape": v.shape, "constraint": v.constraint,
             "component": v.component, "kind": v.kind, "description": v.description}
            for v in violations
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------------
# A whole project on disk

COPIED = ("ontology", "shapes", "queries")  # taken from the source project as they are
MANIFEST = "violations.json"


@dataclass(frozen=True)
class Written:
    root: str
    articles: int
    violations: tuple[Violation, ...]
    files: int


def write_project(out_dir, source, *, seed: str | int, articles: int, violations: int = 0) -> Written:
    """Write a complete kg project to `out_dir` (which must not exist or be empty): the ontology,
    shapes (and JSON-LD context) and canned queries copied from the project `source`, a generated
    registry, `articles` generated articles and, with violations, the manifest violations.json."""
    import shutil
    from pathlib import Path

    from kg.errors import KgError, Problem

    out, source = Path(out_dir), Path(source)
    if articles < 1:
        raise KgError(Problem("--articles must be at least 1"))
    if violations < 0:
        raise KgError(Problem("--violations cannot be negative"))
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KgError(Problem("exists and is not an empty folder; kg synth never overwrites", str(out)))
    missing = [name for name in ("ontology", "shapes") if not (source / name).is_dir()]
    if missing:
        raise KgError(Problem(f"not a kg project: no {' or '.join(m + '/' for m in missing)}", str(source)))
    world = registry(seed)
    generated = list(corpus(world, articles))
    found: tuple[Violation, ...] = ()
    if violations:
        try:
            generated, found = inject(world, generated, violations)
        except SynthError as error:
            raise KgError(Problem(str(error))) from None
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (source / name).is_dir():
            shutil.copytree(source / name, out / name)
    count = 0

    def put(relative: str, text: str) -> None:
        nonlocal count
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        count += 1

    put("registry/entities.ttl", registry_turtle(world))
    for generated_article in generated:
        for name, text in generated_article.files().items():
            put(f"articles/{generated_article.slug}/{name}", text)
    if violations:
        put(MANIFEST, manifest(seed, articles, found))
    return Written(str(out), articles, found, count)
