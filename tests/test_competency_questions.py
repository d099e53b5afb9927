"""Competency questions: each query in queries/ answers one question about the built graph, exactly.

The queries run with pyoxigraph over out/kg.nq (what `kg build` writes), with the default graph as the
union of all named graphs, as a user of the published graph would run them. The expected rows are
written out literally: if the curation or the build changes an answer, the test says which.
"""

from __future__ import annotations

from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.namespaces import PREFIXES

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"
BUILT = ROOT / "out" / "kg.nq"
XSD = "http://www.w3.org/2001/XMLSchema#"
# oxigraph returns xsd:nonNegativeInteger / xsd:positiveInteger values as xsd:integer.
INTEGERS = {XSD + name for name in ("integer", "nonNegativeInteger", "positiveInteger")}


def term(value):
    """A result term as a short Python value: ex:… for IRIs, int for integers, text for (language-tagged)
    strings, and "lexical^^xsd:type" for other literals, so that dates keep their precision."""
    if value is None:
        return None
    if isinstance(value, ox.NamedNode):
        for prefix, namespace in PREFIXES.items():
            if value.value.startswith(namespace):
                return f"{prefix}:{value.value[len(namespace):]}"
        return value.value
    if value.language or value.datatype.value == XSD + "string":
        return value.value
    if value.datatype.value in INTEGERS:
        return int(value.value)
    return f"{value.value}^^xsd:{value.datatype.value[len(XSD):]}"


@pytest.fixture(scope="module")
def store() -> ox.Store:
    assert BUILT.is_file(), f"{BUILT.relative_to(ROOT)} is missing: run `kg build` first"
    store = ox.Store()
    store.load(path=str(BUILT), format=ox.RdfFormat.N_QUADS)
    return store


def answer(store: ox.Store, name: str) -> list[tuple]:
    query = (QUERIES / name).read_text(encoding="utf-8")
    return [tuple(term(v) for v in row) for row in store.query(query, use_default_graph_as_union=True)]


EXPECTED: dict[str, list[tuple]] = {
    'agreements-signed-during-visit.rq': [
        ('ex:agreement-2023-05-24-millet-export', 'China-Russia agreement on the export of Russian millet to China, 24 May 2023', 'millet export', 'China'),
        ('ex:agreement-2023-05-24-millet-export', 'China-Russia agreement on the export of Russian millet to China, 24 May 2023', 'millet export', 'Russia'),
        ('ex:agreement-2023-05-24-patents', 'China-Russia agreement on patents, 24 May 2023', 'patents', 'China'),
        ('ex:agreement-2023-05-24-patents', 'China-Russia agreement on patents, 24 May 2023', 'patents', 'Russia'),
        ('ex:agreement-2023-05-24-service-trade', 'China-Russia agreement on service trade cooperation, 24 May 2023', 'service trade', 'China'),
        ('ex:agreement-2023-05-24-service-trade', 'China-Russia agreement on service trade cooperation, 24 May 2023', 'service trade', 'Russia'),
        ('ex:agreement-2023-05-24-sports', 'China-Russia agreement on sports, 24 May 2023', 'sports', 'China'),
        ('ex:agreement-2023-05-24-sports', 'China-Russia agreement on sports, 24 May 2023', 'sports', 'Russia'),
    ],
    'earlier-meeting.rq': [
        ('ex:meeting-xi-putin-2023-03', '2023-03^^xsd:gYearMonth', 'Vladimir Putin', 'Consensus of Xi Jinping and Vladimir Putin, March 2023'),
        ('ex:meeting-xi-putin-2023-03', '2023-03^^xsd:gYearMonth', 'Xi Jinping', 'Consensus of Xi Jinping and Vladimir Putin, March 2023'),
    ],
    'events-by-cameo.rq': [
        ('01', 'Make public statement', 5),
        ('010', 'Make statement, not specified below', 5),
        ('03', 'Express intent to cooperate', 5),
        ('030', 'Express intent to cooperate, not specified below', 1),
        ('031', 'Express intent to engage in material cooperation, not specified below', 1),
        ('0311', 'Express intent to cooperate economically', 1),
        ('032', 'Express intent to engage in diplomatic cooperation (such as policy support)', 3),
        ('04', 'Consult', 6),
        ('040', 'Consult, not specified below', 2),
        ('042', 'Make a visit', 2),
        ('043', 'Host a visit', 1),
        ('046', 'Engage in negotiation', 1),
        ('05', 'Engage in diplomatic cooperation', 2),
        ('051', 'Praise or endorse', 1),
        ('057', 'Sign formal agreement', 1),
        ('11', 'Disapprove', 1),
        ('111', 'Criticize or denounce', 1),
    ],
    'events-by-plover.rq': [
        ('AGREE', 'ex:signing-2023-05-24', 'Signing of China-Russia agreements, 24 May 2023'),
        ('AGREE', 'ex:statement-mishustin-multipolar-order', 'Mikhail Mishustin on a multipolar world order based on international law'),
        ('AGREE', 'ex:statement-mishustin-people-to-people-exchanges', 'Mikhail Mishustin on cultural and people-to-people exchanges with China'),
        ('AGREE', 'ex:statement-xi-bri-eaeu', 'Xi Jinping on synergizing the Belt and Road Initiative and the EAEU'),
        ('AGREE', 'ex:statement-xi-multilateral-coordination', 'Xi Jinping on coordination with Russia on multilateral platforms'),
        ('AGREE', 'ex:statement-xi-mutual-support', 'Xi Jinping on mutual support with Russia on core interests'),
        ('CONSULT', 'ex:china-russia-business-forum-shanghai-2023-05', 'China-Russia business forum in Shanghai, May 2023'),
        ('CONSULT', 'ex:meeting-li-mishustin-2023-05-24', 'Meeting of Li Qiang and Mikhail Mishustin, 24 May 2023'),
        ('CONSULT', 'ex:meeting-xi-mishustin-2023-05-24', 'Meeting of Xi Jinping and Mikhail Mishustin, Beijing, 24 May 2023'),
        ('CONSULT', 'ex:meeting-xi-putin-2023-03', 'Talks of Xi Jinping and Vladimir Putin, March 2023'),
        ('CONSULT', 'ex:mishustin-visit-to-china-2023-05', "Mikhail Mishustin's official visit to China, May 2023"),
        ('CONSULT', 'ex:xi-state-visit-to-russia-2023-03', "Xi Jinping's state visit to Russia, March 2023"),
        ('DISAPPROVE', 'ex:statement-chinese-experts-dismissal', 'Chinese experts dismiss US assertions about Central Asia'),
        ('SUPPORT', 'ex:statement-xi-aspiration-of-the-people', "Xi Jinping on strengthening China-Russia relations as the people's aspiration"),
    ],
    'leader-statements.rq': [
        ('Mikhail Mishustin', 'Russia is eager to promote a multipolar world and to consolidate an international order based on international law.', 'Russian Prime Minister Mikhail Mishustin echoed President Xi’s sentiments during their meeting, emphasizing Russia’s commitment to cultivating a global multipolar order based on international law'),
        ('Mikhail Mishustin', 'Russia is eager to promote a multipolar world and to consolidate an international order based on international law.', 'expressing Russia’s eagerness to promote the process of multi-polarization for the world and consolidate the international order based on international law'),
        ('Mikhail Mishustin', 'Russia wants more cultural and people-to-people exchanges with China for a lasting friendship.', 'He also expressed the desire to enhance cultural and people-to-people exchanges with China to foster enduring friendship between the two nations'),
        ('Mikhail Mishustin', 'Russia wants more cultural and people-to-people exchanges with China for a lasting friendship.', 'Mishustin underscored the importance of fostering stronger cultural and people-to-people ties between China and Russia'),
        ('Xi Jinping', 'China is committed to mutual support with Russia and is ready to back Russia on matters of their core interests.', 'Xi stated that China stands ready to back Russia in areas that pertain to their respective core interests'),
        ('Xi Jinping', 'China is committed to mutual support with Russia and is ready to back Russia on matters of their core interests.', 'underscored China’s commitment to fostering mutual support with Russia'),
        ('Xi Jinping', 'China is willing to work with Russia and the EAEU members to link the Belt and Road Initiative with the EAEU, for a more open regional market and stable supply chains.', 'He believed this would facilitate the formation of a more open, large regional market, ensuring the stability of global industrial and supply chains'),
        ('Xi Jinping', 'China is willing to work with Russia and the EAEU members to link the Belt and Road Initiative with the EAEU, for a more open regional market and stable supply chains.', 'Xi expressed China’s willingness to work with Russia and the Eurasian Economic Union (EAEU) members to synergize the Belt and Road Initiative and the EAEU'),
        ('Xi Jinping', 'China wants closer coordination with Russia on multilateral platforms.', 'Xi Jinping further expressed the desire to enhance coordination with Russia on various multilateral platforms'),
        ('Xi Jinping', 'Strengthening China-Russia relations is what the people want and the trend of the times.', 'Xi Jinping further emphasized the collective aspiration of the people and the trend of the times to fortify China-Russia relations'),
        ('Xi Jinping', 'Xi asked Mishustin to convey his cordial greetings to Putin.', 'asked Prime Minister Mishustin to pass on his cordial greetings to Russian President Vladimir Putin'),
    ],
    'meetings-on-2023-05-24.rq': [
        ('ex:meeting-li-mishustin-2023-05-24', 'Meeting of Li Qiang and Mikhail Mishustin, 24 May 2023', None, 'Li Qiang'),
        ('ex:meeting-li-mishustin-2023-05-24', 'Meeting of Li Qiang and Mikhail Mishustin, 24 May 2023', None, 'Mikhail Mishustin'),
        ('ex:meeting-xi-mishustin-2023-05-24', 'Meeting of Xi Jinping and Mikhail Mishustin, Beijing, 24 May 2023', 'Beijing', 'Mikhail Mishustin'),
        ('ex:meeting-xi-mishustin-2023-05-24', 'Meeting of Xi Jinping and Mikhail Mishustin, Beijing, 24 May 2023', 'Beijing', 'Xi Jinping'),
    ],
    'mishustin-events-during-visit.rq': [
        ('ex:china-russia-business-forum-shanghai-2023-05', 'China-Russia business forum in Shanghai, May 2023', None, 'Shanghai'),
        ('ex:meeting-li-mishustin-2023-05-24', 'Meeting of Li Qiang and Mikhail Mishustin, 24 May 2023', '2023-05-24^^xsd:date', None),
        ('ex:meeting-xi-mishustin-2023-05-24', 'Meeting of Xi Jinping and Mikhail Mishustin, Beijing, 24 May 2023', '2023-05-24^^xsd:date', 'Beijing'),
    ],
    'participant-offices.rq': [
        ('Li Qiang', "Premier of the State Council of the People's Republic of China", 'China'),
        ('Mikhail Mishustin', 'Prime Minister of Russia', 'Russia'),
        ('Xi Jinping', "President of the People's Republic of China", 'China'),
    ],
    'sentences-supporting-xi-mishustin-meeting.rq': [
        (1, 0, 192, 'During a key meeting with Russian Prime Minister Mikhail Mishustin in Beijing on Wednesday, Chinese President Xi Jinping underscored China’s commitment to fostering mutual support with Russia.', 'During a key meeting with Russian Prime Minister Mikhail Mishustin in Beijing on Wednesday'),
        (13, 1677, 1808, 'During the meeting, Xi Jinping asked Prime Minister Mishustin to pass on his cordial greetings to Russian President Vladimir Putin.', 'During the meeting, Xi Jinping asked Prime Minister Mishustin'),
    ],
}


def test_every_query_has_expected_answer():
    assert sorted(p.name for p in QUERIES.glob("*.rq")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_query_states_its_question_and_is_ordered(name):
    text = (QUERIES / name).read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# Question: ") and first.endswith("?"), first
    assert "ORDER BY" in text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_competency_question(store, name):
    assert answer(store, name) == EXPECTED[name]


def test_answers_are_deterministic(store):
    first = {name: answer(store, name) for name in EXPECTED}
    again = ox.Store()
    again.load(path=str(BUILT), format=ox.RdfFormat.N_QUADS)
    assert {name: answer(again, name) for name in EXPECTED} == first
