"""The multilingual search test set (issue 10): real corpus articles (Fundus' expected parses of the
pages in shared/corpus/news-pages: title and body) and Ukrainian articles written for it, with queries
that each use another inflected form or a sub-word of the article's text. Shared by
tests/test_search_multilingual.py and bench/search_multilingual.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# publisher -> the language its pages are in (ua/Pravda is the Russian-language edition)
PUBLISHERS = {
    "ru/Kommersant": "ru", "ua/Pravda": "ru", "de/Tagesschau": "de", "de/SpiegelOnline": "de", "de/DW": "de",
    "de/FAZ": "de", "fr/LeMonde": "fr", "fr/LeFigaro": "fr", "fr/EuronewsFR": "fr", "es/ElPais": "es",
    "es/ElMundo": "es", "es/ABC": "es", "it/LaRepubblica": "it", "it/CorriereDellaSera": "it",
    "jp/AsahiShimbun": "ja", "jp/Nikkei": "ja", "jp/MainichiShimbun": "ja", "jp/YomiuriShimbun": "ja",
    "cn/People": "zh", "kr/HankookIlbo": "ko", "kr/MBN": "ko", "uk/BBC": "en", "uk/TheGuardian": "en",
    "us/APNews": "en", "us/Reuters": "en",
}

# Written for the test set (realistic news, as the archive's core users read it): the corpus has no
# Ukrainian-language page.
UKRAINIAN = {
    "ukr/dprk": ("Полонені солдати Північної Кореї не стануть розмінною монетою",
                "Посол України в Республіці Корея Дмитро Пономаренко заявив, що полонених солдатів Північної "
                "Кореї не використовуватимуть як розмінну монету. За його словами, Україна дотримується норм "
                "міжнародного гуманітарного права щодо військовополонених. Сеул і Київ обговорюють можливу "
                "передачу військових до Південної Кореї, якщо вони самі про це попросять. Пхеньян офіційно не "
                "визнає участі своїх військових у війні проти України."),
    "ukr/energy": ("Унаслідок масованої ракетної атаки пошкоджено енергетичну інфраструктуру Харківщини",
                  "У ніч на неділю російські війська завдали масованого удару ракетами та дронами по об'єктах "
                  "енергетичної інфраструктури Харківської області. Через пошкодження підстанцій без "
                  "електропостачання залишилися понад двісті тисяч споживачів. Енергетики працюють над "
                  "відновленням живлення, а в обласному центрі запроваджено графіки аварійних відключень. "
                  "Сили протиповітряної оборони збили частину ракет над областю."),
    "ukr/rada": ("Верховна Рада ухвалила закон про мобілізацію в цілому",
                "Народні депутати підтримали законопроєкт про вдосконалення окремих питань мобілізації. "
                "За відповідне рішення Верховної Ради проголосували двісті вісімдесят три депутати. "
                "Документ передбачає створення електронного кабінету призовника та оновлення військово-"
                "облікових даних протягом шістдесяти днів після набрання законом чинності. Голова "
                "парламенту має підписати ухвалений закон найближчим часом."),
    "ukr/grain": ("Експорт зерна через порти Одеської області зріс удвічі",
                 "Обсяги експорту української агропродукції через морські порти Одеської області у жовтні "
                 "зросли майже вдвічі порівняно з минулим роком. Найбільше з портів Великої Одеси вивезли "
                 "кукурудзи та пшениці, повідомили в Міністерстві аграрної політики. Судна прямують "
                 "українським морським коридором попри постійні атаки на портову інфраструктуру. Аграрії "
                 "очікують, що рекордний урожай соняшнику дозволить наростити продаж олії."),
    "ukr/memory": ("У Києві вшанували пам'ять загиблих захисників",
                  "У столиці відбулася хвилина мовчання на знак вшанування пам'яті загиблих захисників і "
                  "захисниць України. Родини полеглих воїнів, військові та кияни зібралися біля Стіни пам'яті "
                  "на Михайлівській площі. Міський голова нагадав, що кожне ім'я на стіні є історією "
                  "людини, яка віддала життя за незалежність держави."),
}


@dataclass(frozen=True, slots=True)
class Case:
    query: str
    doc: str  # the article it must find: "<publisher>#<parse key>" or a UKRAINIAN key
    why: str  # what it exercises


CASES = [
    Case("Зеленая гостиная Кремль", "ru/Kommersant#V1", "ru: Зеленой гостиной Кремля (issue 10)"),
    Case("премьер-министр Малайзия", "ru/Kommersant#V1", "ru: премьер-министром Малайзии"),
    Case("окружной административный суд", "ua/Pravda#V1", "ru: Окружного административного суда"),
    Case("полномасштабное вторжение", "ua/Pravda#V1", "ru: полномасштабного вторжения"),
    Case("Untersuchungsausschüssen Flutkatastrophen", "de/Tagesschau#V1", "de: Untersuchungsausschusses, Flutkatastrophe"),
    Case("Zusammenbruch kalifornische Bank", "de/SpiegelOnline#V1", "de: Zusammenbruchs der kalifornischen"),
    Case("russischer Raketenangriff", "de/DW#V1", "de: Russische Raketenangriffe"),
    Case("Kopfschmerz Schüttelfrost", "de/DW#V2", "de: Kopfschmerzen oder Schüttelfrost"),
    Case("russischer Spion Schweiz", "de/FAZ#V2", "de: russische Spione"),
    Case("divergence idéologique", "fr/LeMonde#V1", "fr: leurs divergences idéologiques"),
    Case("campagnes militaires ukrainiennes", "fr/LeFigaro#V1", "fr: la campagne militaire ukrainienne"),
    Case("centro deportaciones", "es/ElPais#V1", "es: centros de deportación"),
    Case("penalizaciones extrañas", "es/ElMundo#V1", "es: la extraña penalización"),
    Case("tortura hijo policía", "es/ABC#V1", "es: torturas, sus cuatro hijos"),
    Case("svastica striscioni", "it/LaRepubblica#V1", "it: due svastiche, lo striscione"),
    Case("segretaria nominata", "it/CorriereDellaSera#V1", "it: nominato segretario"),
    Case("津波", "jp/AsahiShimbun#V1", "ja: sub-word of 津波注意報 (issue 10)"),
    Case("震源 推定", "jp/AsahiShimbun#V1", "ja: 震源の深さ, 推定される"),
    Case("金融庁 解任", "jp/Nikkei#V1", "ja: 金融庁から, 解任する"),
    Case("最終草案", "jp/MainichiShimbun#V1", "ja: 停戦合意の最終草案に"),
    Case("戒厳令 野党", "jp/YomiuriShimbun#V1", "ja: 韓国が戒厳令、野党が"),
    Case("航天合作伙伴", "cn/People#V1", "zh: inside 中拉航天合作伙伴关系"),
    Case("通信卫星", "cn/People#V1", "zh: inside 发射了通信卫星"),
    Case("청년 간담회", "kr/HankookIlbo#V1", "ko: 청년들과 간담회를"),
    Case("중도층 책임론 기자회견", "kr/HankookIlbo#V2", "ko: 중도층과의, 책임론을, 기자회견에서"),
    Case("중재안 타협점 선호투표", "kr/HankookIlbo#V3", "ko: 중재안이, 타협점을, 선호투표를"),
    Case("사법시험 법학과", "kr/MBN#V1", "ko: 사법시험에, 법학과에"),
    Case("forecast economies", "uk/BBC#V1", "en: forecasts, economy"),
    Case("firefighter victims", "uk/TheGuardian#V1", "en: firefighters, victim"),
    Case("birds striking airports", "us/Reuters#V1", "en: bird strike, airport"),
    Case("Північна Корея", "ukr/dprk", "uk: Північної Кореї (issue 10)"),
    Case("ракетна атака енергетична інфраструктура", "ukr/energy", "uk: ракетної атаки, енергетичної"),
    Case("Верховна Рада закону мобілізація", "ukr/rada", "uk: закон, мобілізацію, мобілізації"),
    Case("порту Одеської області", "ukr/grain", "uk: порти, Одеської області"),
    Case("пам'ять загиблим захисникам", "ukr/memory", "uk: пам'яті загиблих захисників"),
    Case('"Північна Корея"', "ukr/dprk", "uk: a phrase across inflection"),
    Case("ракетна OR бомба атака", "ukr/energy", "uk: OR"),
]


@dataclass(frozen=True, slots=True)
class Doc:
    key: str
    title: str
    text: str
    language: str


def corpus_docs(corpus: Path) -> list[Doc]:
    """Every expected parse of the PUBLISHERS' pages, as title and body text."""
    docs = []
    for publisher, language in PUBLISHERS.items():
        parses = json.loads((corpus / "news-pages" / f"{publisher}.json").read_text(encoding="utf-8"))
        for key, parse in parses.items():
            body = parse.get("body") or {}
            paragraphs = [p for part in [body.get("summary") or []] + [s.get("paragraphs") or []
                                                                      for s in body.get("sections") or []]
                          for p in part]
            text = "\n".join(paragraphs)
            if text:
                docs.append(Doc(f"{publisher}#{key}", (parse.get("title") or "").strip(), text, language))
    return docs


def ukrainian_docs() -> list[Doc]:
    return [Doc(key, title, text, "uk") for key, (title, text) in UKRAINIAN.items()]


def old_tokens(text: str) -> set[str]:
    """Roughly what the old index held (FTS5 unicode61): runs of word characters, case-folded."""
    return set(re.findall(r"[^\W_]+", text.casefold()))
