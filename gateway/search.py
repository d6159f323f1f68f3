"""Ranking of ConnectWise operations for free-text and natural-language queries.

The sources are the generated registry (``cwm_generated.registry.OPERATIONS``) and the schema
table (``cwm_generated.schemas.SCHEMAS``): every word the ranking uses (path, tag, summary,
operationId, body/response schema names, parameter names, the schemas' field names) is read
from them, so the search can never drift from the catalog. The few words the spec does not
have (MSP vocabulary, intent verbs, stopwords) are data: ``search_vocabulary.json``.

How a query is ranked, in short:

1. The query is cut into words (camelCase and run-together words are split, plurals and
   ``-ed``/``-ing`` forms folded: ``timeentries`` -> ``time entry``, ``changed`` -> ``change``),
   MSP vocabulary is mapped onto ConnectWise's (``client`` -> ``company``, ``technician`` ->
   ``member``...) and intent words are lifted out (``create`` -> POST, ``by id`` -> one item,
   ``how many`` -> count).
2. Each remaining word is a *concept*; an operation earns, per concept, the best
   ``idf x field weight`` over the concept's alternatives (path resource words weigh most). The
   field names of the operation's body and response schemas count too, weakly: they are how the
   spec says what a record holds ("serial number" -> configurations, "products sold on tickets"
   -> product items, which have ``ticket`` and ``project`` fields).
3. Words of the operation's own name (its path segments and summary) that the query did not
   mention cost a little, so the main resource beats its children unless the query names the
   child (``tickets`` beats ``tickets/{parentId}/notes``, which wins for "ticket notes").
4. Method and shape (collection, single item, count) bonuses come from the intent; a query
   with no verb reads.
5. A query that names a record and some of its fields ("change a ticket's priority", "the
   status of a configuration") credits that record's PATCH/PUT: the fields, and what they refer
   to, come from the schema table. Field names also say what a role word is ("primarySalesRep"
   refers to a member: "sales reps" are members).

Words after "like" are examples (they add, never count against a match), "not posted" is the
catalog's "unposted", "turn X into Y" is the spec's convert action, and a first word the catalog
does not know, before a verb, is a verb ("onboard a new client"). Phrasal verbs are the verb
they mean ("hand in" -> submit, "take X off" -> remove). A lookup table (a small record another
record of its module refers to: expense types of expense entries) answers only when the query
names it, and to change "a company's status" is to edit the company, not the status table. A
module's main record (the top-level table referring to the most lookup tables: schedule entries,
tickets) answers for its module ("Maria's schedule"). A number after a qualifier names the parent
("time logged against ticket 5530"). Contractions are expanded ("haven't" -> have not). The
participle of a verb that implies its object names it ("what does Raj have booked" -> schedule
entries); a verb said in the plural past the first word is a noun ("Outlook fixes"); "how many
hours" is time, no count. A
query whose words all read as stopwords is read again, less strictly ("log a call").

The index is built lazily on the first search (about 3,000 operations, a few hundred ms) and a
query touches only the posting lists of its words.
"""

from __future__ import annotations

import bisect
import heapq
import math
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from cwm_gateway.results import Endpoint, SearchResult
    from cwm_generated.types import Operation, Schema

__all__ = [
    "Hit",
    "SearchIndex",
    "Visible",
    "Vocabulary",
    "get_index",
    "load_vocabulary",
    "natural_language_search",
    "rank",
    "search",
    "singular",
    "split_words",
]

Visible = Callable[["Operation"], bool]

# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------

# Acronym plurals first ("SLAs"), then acronyms before a capitalised word ("RMADispositions"),
# then ordinary camelCase words, lower-case runs and numbers.
_WORD_RE = re.compile(r"[A-Z]{2,}s(?![a-z])|[A-Z]+(?![a-z])|[A-Z][a-z]*|[a-z]+|[0-9]+")

# Labels such as "P1", "Q3" or "v2" in a query name no resource, and their digits are no id.
_LABEL_RE = re.compile(r"\b[A-Za-z]{1,2}[0-9]+\b")

# English contractions: "haven't" is "have not" (so "not" can find the catalog's "un-" word),
# "won't" no "won"; "we're", "I'll", "they've", "I'd", "I'm" add nothing. Written without the
# apostrophe too ("dont", "isnt"), as chat often is.
_NOT_RE = re.compile(
    r"\b(wo|ca|sha|do|does|did|is|are|was|were|have|has|had|could|should|would|must|need)"
    r"n['\u2019]?t\b",
    re.IGNORECASE,
)
_AUXILIARY_RE = re.compile(r"['\u2019](?:re|ll|ve|d|m)\b", re.IGNORECASE)
_NEGATED = {"wo": "will", "ca": "can", "sha": "shall"}


def _expand_contractions(text: str) -> str:
    text = _NOT_RE.sub(lambda m: _NEGATED.get(m[1].lower(), m[1]) + " not", text)
    return _AUXILIARY_RE.sub(" ", text)


# Some summaries carry a .NET namespace ("Get ConnectWise.Apis.v3_0.v2015_3.Company.Company").
_NAMESPACE_RE = re.compile(r"ConnectWise\.Apis\.v[\d_]+\.v[\d_]+\.")


def split_words(text: str) -> list[str]:
    """Split text into lower-case words, breaking camelCase and acronyms (``SLAs`` -> ``slas``)."""
    return list(map(str.lower, _WORD_RE.findall(text)))


# Cached: building the index folds some 28,000 words, most of them many times over.
@lru_cache(maxsize=16384)
def singular(word: str) -> str:
    """Fold an English plural onto its singular, enough for API nouns.

    ``entries`` -> ``entry``, ``statuses`` -> ``status``, ``addresses`` -> ``address``,
    ``taxes`` -> ``tax``, ``tickets`` -> ``ticket``. Words already singular are unchanged.
    """
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "uses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


def _stems(word: str) -> Iterable[str]:
    """Base forms to try for a verb form the catalog does not have (``changed``, ``billing``).

    ``-ed``: changed -> change, logged -> log, booked -> book; ``-ing``: driving -> drive,
    shipping -> ship.
    """
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            base = word[: -len(suffix)]
            yield base
            yield base + "e"
            if len(base) > 2 and base[-1] == base[-2]:
                yield base[:-1]  # logged -> log, shipping -> ship


# --------------------------------------------------------------------------------------------
# Vocabulary: the words the spec does not have (search_vocabulary.json)
# --------------------------------------------------------------------------------------------

# One intent: methods with their weight, a shape ("item", "collection" or None) and the words a
# verb implies as its object ("schedule a technician" -> a schedule entry).
_Verb = tuple[dict[str, float], "str | None", tuple[str, ...]]

# How each verb group of the vocabulary reads as intent.
_VERB_GROUPS: dict[str, tuple[dict[str, float], str | None]] = {
    "create": ({"POST": 1.0}, None),
    "update": ({"PATCH": 1.0, "PUT": 0.85}, "item"),
    "replace": ({"PUT": 1.0, "PATCH": 0.7}, "item"),
    "delete": ({"DELETE": 1.0}, None),
    "list": ({"GET": 1.0}, "collection"),
    "get": ({"GET": 1.0}, None),
    "act": ({}, None),
}


class Vocabulary(NamedTuple):
    """The word tables of ``search_vocabulary.json``, ready for lookups."""

    stopwords: frozenset[str]
    summary_noise: frozenset[str]
    field_noise: frozenset[str]
    standard_params: frozenset[str]
    anonymous_params: frozenset[str]
    synonyms: dict[str, tuple[str, ...]]
    alternatives: dict[str, dict[str, float]]
    phrases: dict[tuple[str, str], tuple[str, ...]]
    verbs: dict[str, _Verb]
    item_words: frozenset[str]
    count_words: frozenset[str]
    leading_only: frozenset[str]
    leading_skip: frozenset[str]
    relations: frozenset[str]
    examples: frozenset[str]
    conversion_verbs: frozenset[str]
    owner_relations: frozenset[str]
    question_words: frozenset[str]
    verb_phrases: dict[str, dict[str, str]]
    """Head word -> particle ("" for none) -> the verb it means ("hand in" -> submit)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Vocabulary:
        """Build from the JSON form (see ``search_vocabulary.json`` for what each table means)."""

        def words(key: str) -> frozenset[str]:
            return frozenset(data[key])  # type: ignore[call-overload]

        verbs: dict[str, _Verb] = {}
        for group, members in data["verbs"].items():  # type: ignore[attr-defined]
            methods, shape = _VERB_GROUPS[group]
            for word in members:
                verbs[word] = (dict(methods), shape, ())
        for word, spec in data["verbs_with_object"].items():  # type: ignore[attr-defined]
            methods, shape = _VERB_GROUPS[spec["intent"]]
            verbs[word] = (dict(methods), shape, tuple(spec["object"]))
        phrases = {}
        for phrase, target in data["phrases"].items():  # type: ignore[attr-defined]
            first, second = phrase.split()
            phrases[(first, second)] = tuple(target)
        verb_phrases: dict[str, dict[str, str]] = {}
        for phrase, target in data["verb_phrases"].items():  # type: ignore[attr-defined]
            head, _, particle = phrase.partition(" ")
            verb_phrases.setdefault(head, {})[particle] = target
        return cls(
            stopwords=words("stopwords"),
            summary_noise=words("summary_noise"),
            field_noise=words("field_noise"),
            standard_params=words("standard_params"),
            anonymous_params=words("anonymous_params"),
            synonyms={k: tuple(v) for k, v in data["synonyms"].items()},  # type: ignore[attr-defined]
            alternatives={k: dict(v) for k, v in data["alternatives"].items()},  # type: ignore[attr-defined]
            phrases=phrases,
            verbs=verbs,
            item_words=words("item_words"),
            count_words=words("count_words"),
            leading_only=words("leading_only"),
            leading_skip=words("leading_skip"),
            relations=words("relations"),
            examples=words("examples"),
            conversion_verbs=words("conversion_verbs"),
            owner_relations=words("owner_relations"),
            question_words=words("question_words"),
            verb_phrases=verb_phrases,
        )


_VOCABULARY_FILE = os.path.join(os.path.dirname(__file__), "search_vocabulary.json")


@cache
def load_vocabulary() -> Vocabulary:
    """The shipped vocabulary (package data next to this module), read once."""
    import json  # only here: importing this module stays cheap

    with open(_VOCABULARY_FILE, encoding="utf-8") as f:
        return Vocabulary.from_dict(json.load(f))


# --------------------------------------------------------------------------------------------
# Ranking weights
# --------------------------------------------------------------------------------------------

# Field weights: how strongly a word in each place says "this operation is about that".
_W_RESOURCE = 3.0  # last literal path segment
_W_PARENT = 2.0  # other literal path segments
_W_CATEGORY = 2.0  # first path segment (module)
_W_SUMMARY = 1.6
_W_TAG = 1.5
_W_MODEL = 1.0
_W_OPID = 0.8
_W_DESCRIPTION = 0.5  # later lines of multi-line summaries
_W_PARAM = 0.5
# Field names of the body/response schema: what the record holds, not what it is. Weighed with
# their own idf (how rare the word is among fields), and a field-only match counts as part of
# a concept for the coordination factor.
_W_FIELD = 0.55
_FIELD_COORD = 0.6
_MAX_FIELD_SHARE = 0.125
_ROLE = 0.7  # a role word's record ("rep" -> member, see _field_roles)
_ROLE_SHARE = 0.7
_SUFFIX_SCHEMAS = 100
_W_EDIT = _W_PARENT  # a field the query asks to change on the record it names (see _field_edits)

# Penalty weights for words of the operation's name the query did not mention.
_C_RESOURCE = 1.5
_C_PARENT = 1.0
_C_CATEGORY = 0.25
_C_SUMMARY = 0.3
_C_MAIN = 1.0
_LOOKUP_FIELD = 8.0
_LOOKUP = 2.0  # a lookup table whose own word the query does not say (see _lookup_paths)
_LOOKUP_SHARE = 0.5  # of the fields of the record that refers to it, at most
_LOOKUP_FIELDS = 20
_UNMATCHED = 0.8  # scale of the whole penalty

_COORD = 0.5
_PREFIX = 0.7  # a name word that merely starts with the query's word
_MAX_PREFIX_ALTERNATIVES = 3
_QUALIFIER = 0.85  # words after "of/on/for..." qualify the head noun before them
_EXAMPLE = 0.4  # words after "like" are examples of what the query asks for, not the thing
_VERB_NAME = 0.5  # a verb that is also a name word ("link" -> ticketLinks), as an extra
_MAX_QUERY_CHARS = 1000
_MAX_QUERY_WORDS = 40
_PARTICLE_REACH = 5  # a phrasal verb's particle may stand up to 4 words after the verb

_B_METHOD = 6.0
_B_SHAPE = 1.8
# A query with no verb reads: "timesheets waiting for approval" lists sheets, it approves none.
_B_READ = 2.5
_B_COUNT = 4.0
_TIE_POOL = 10
_NATURAL_INTENT = 1.25


def _schema_suffixes(schemas: Mapping[str, Schema]) -> frozenset[str]:
    """Words that end very many schema names ("Reference", "Info"): they say nothing."""
    endings: dict[str, int] = {}
    for name in schemas:
        last = split_words(name)[-1:]
        if last:
            endings[last[0]] = endings.get(last[0], 0) + 1
    return frozenset(singular(w) for w, c in endings.items() if c > _SUFFIX_SCHEMAS)


class Hit(NamedTuple):
    """One ranked operation."""

    operation: Operation
    score: float
    matched: tuple[str, ...]
    """Query concepts this operation matched (ConnectWise words, after synonym mapping)."""
    why: str
    """A short human-readable explanation: matched words and intent."""

    @property
    def key(self) -> str:
        """``"METHOD /path"``, the usual way to name an operation."""
        return f"{self.operation.method} {self.operation.path}"

    def endpoint(self) -> Endpoint:
        """The tool-facing form of this hit (``results.Endpoint``)."""
        from cwm_gateway.results import Endpoint

        return Endpoint.of(self.operation, self.score, self.why)


class _Query(NamedTuple):
    concepts: tuple[dict[str, float], ...]
    labels: tuple[str, ...]
    weights: tuple[float, ...]
    """Each concept's weight in the query (less than 1 for a qualifier: "notes on a ticket")."""
    owners: frozenset[int]
    """Concepts that may name the record whose fields the others are (see _field_edits)."""
    extras: tuple[dict[str, float], ...]
    """Words that add to an operation's score but are not asked for (examples after "like",
    a verb that is also a name: "link tickets" -> ticketLinks): no coordination, no miss."""
    methods: dict[str, float]
    shape: str | None  # "item", "collection", "count" or None
    notes: tuple[str, ...]
    plurals: frozenset[str] = frozenset()
    """Words the query said in the plural (singular form): "statuses" names the table."""


class SearchIndex:
    """An inverted index over a sequence of operations.

    Build once (``get_index()`` does that lazily for the registry) and query many times.
    ``schemas`` (name -> :class:`~cwm_generated.types.Schema`) adds the field names of each
    operation's body and response schema; ``vocabulary`` defaults to the shipped one.
    """

    def __init__(
        self,
        operations: Iterable[Operation],
        schemas: Mapping[str, Schema] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.operations: tuple[Operation, ...] = tuple(operations)
        self.vocabulary = vocab = vocabulary or load_vocabulary()
        ops = self.operations
        self._vocab = self._build_vocab(ops)
        self._split_cache: dict[str, tuple[str, ...]] = {}
        self._words_cache: dict[str, tuple[str, ...]] = {}
        self._seg_cache: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        # Verbs of the spec's own actions (POST .../{id}/approve), after the vocabulary's; as
        # they also name paths, they are verbs only where a verb stands: first.
        actions = self._action_verbs(self.operations)
        self._verbs = {**actions, **vocab.verbs}
        self._leading_only = vocab.leading_only | (actions.keys() - vocab.verbs.keys())
        # Names that start with a stopword ("apiMembers"): the pair keeps the stopword.
        self._compounds = self._stopword_compounds(self.operations)

        # Per operation: term -> field weight and term -> penalty weight.
        term_maps: list[dict[str, float]] = []
        core_maps: list[dict[str, float]] = []
        lookups, mains = self._lookup_paths(ops, schemas) if schemas else (frozenset(), frozenset())
        for op in ops:
            terms: dict[str, float] = {}
            core: dict[str, float] = {}
            main = op.path in mains or (
                op.path.endswith("}") and op.path.rsplit("/", 1)[0] in mains
            )
            self._index_operation(op, terms, core, main)
            term_maps.append(terms)
            core_maps.append(core)

        n = len(ops)
        df: dict[str, int] = {}
        for terms in term_maps:
            for t in terms:
                df[t] = df.get(t, 0) + 1
        self._idf = {t: math.log(1.0 + n / c) for t, c in df.items()}
        idf = self._idf

        postings: dict[str, list[tuple[int, float, float]]] = {}
        core_total: list[float] = []
        for i, (terms, core) in enumerate(zip(term_maps, core_maps, strict=True)):
            for t, w in terms.items():
                postings.setdefault(t, []).append((i, w, core.get(t, 0.0) * idf[t]))
            core_total.append(sum(cw * idf[t] for t, cw in core.items()))
        self._postings = postings
        self._core_total = core_total
        self._terms = term_maps

        # Field words: operation -> words of its schemas' field names, not already in its name.
        field_postings: dict[str, list[int]] = {}
        if schemas:
            models = {m for op in ops for m in (op.body_model, op.response_model) if m}
            field_words = self._schema_field_words({m: schemas[m] for m in models if m in schemas})
            for i, op in enumerate(ops):
                found: set[str] = set()
                if op.body_model and op.body_kind != "patch":  # a PATCH body is op/path/value
                    found.update(field_words.get(op.body_model, ()))
                if op.response_model:
                    found.update(field_words.get(op.response_model, ()))
                for t in found:
                    if t not in term_maps[i]:
                        field_postings.setdefault(t, []).append(i)
            # A field word on one operation in eight (name, type, date...) tells nothing apart
            # (in a catalog large enough for that share to mean anything).
            limit = max(n * _MAX_FIELD_SHARE, 50)
            field_postings = {t: p for t, p in field_postings.items() if len(p) <= limit}
        self._field_idf = {t: math.log(1.0 + n / len(p)) for t, p in field_postings.items()}
        self._field_postings = field_postings
        # What a PATCH/PUT of one record can change: its fields, by name and by what they refer
        # to ("owner" -> a member). "change a ticket's priority" edits the ticket, not a priority.
        self._schemas: Mapping[str, Schema] = schemas or {}
        self._edit_models = self._record_models(ops, self._schemas)
        self._fields_of: dict[str, frozenset[str]] = {}
        self._field_name_words: dict[str, tuple[str, ...]] = {}
        self._field_sets: dict[str, frozenset[int]] = {}  # filled for the hits explained
        self._sorted_names = sorted(idf)
        self._suffixes = _schema_suffixes(schemas) if schemas else frozenset()
        self._roles = self._field_roles(schemas) if schemas else {}

        # Shape features used by the intent bonus: (method, is item, is count) per operation.
        self._shape_class = [
            (op.method, op.path.endswith("}"), op.path.rsplit("/", 1)[-1] == "count") for op in ops
        ]
        self._classes = frozenset(self._shape_class)
        self._path_len = [len(op.path) for op in ops]
        # Operations on lookup tables (and under them), by the words that name the table.
        self._lookups: dict[frozenset[str], list[int]] = {}
        if lookups:
            # One pattern, longest paths first: a path under a lookup table names its table.
            under = re.compile(
                "|".join(re.escape(p) for p in sorted(lookups, key=len, reverse=True)) + "(?=/|$)"
            ).match
            for i, op in enumerate(ops):
                match = under(op.path)
                if match:
                    table = frozenset(self.words(match.group().rsplit("/", 1)[1]))
                    self._lookups.setdefault(table, []).append(i)

    # ---- building -------------------------------------------------------------------------

    @staticmethod
    def _build_vocab(ops: Sequence[Operation]) -> frozenset[str]:
        """Words seen with an explicit boundary somewhere (camelCase, dots, spaces).

        Run-together lower-case words (``purchaseorderstatuses``) are split against this set.
        OperationIds are left out: they glue lower-case path segments into one capitalised word.
        """
        texts: set[str] = set()
        for op in ops:
            texts.add(op.tag)
            if op.summary:
                texts.add(op.summary.partition("\n")[0])
            texts.add(op.body_model or "")
            texts.add(op.response_model or "")
            texts.update(p.name for p in op.path_params)
            texts.update(p.name for p in op.query_params)
            texts.update(op.path.split("/"))
        vocab: set[str] = set()
        for text in texts:
            if text.lower() == text:
                # All-lower-case text has no boundaries to learn from (``timeentries``).
                if " " not in text:
                    continue
            for w in split_words(text):
                vocab.add(w)
                vocab.add(singular(w))
        return frozenset(w for w in vocab if len(w) >= 2 and not w.isdigit())

    def _action_verbs(self, ops: Sequence[Operation]) -> dict[str, _Verb]:
        """Actions the spec names: the word of a POST-only path right under an item.

        ``/time/sheets/{id}/submit``, ``/service/tickets/{parentId}/merge``,
        ``/sales/opportunities/{id}/convertToProject``, ``/project/projects/{parentId}/
        applyTemplates``: "approve a timesheet" asks for a POST, and the action word stays a
        concept. Words that also name something readable (``.../{id}/invoice`` beside GET
        invoices) are nouns, not actions.
        """
        methods: dict[str, set[str]] = {}
        for op in ops:
            methods.setdefault(op.path, set()).add(op.method)
        readable = {
            w
            for path, ms in methods.items()
            if "GET" in ms
            for seg in path.split("/")
            if seg and seg[0] != "{"
            for w in self.words(seg)
        }
        verbs: dict[str, _Verb] = {}
        for path, ms in methods.items():
            segs = path.split("/")
            if ms != {"POST"} or len(segs) < 3 or not segs[-2].startswith("{"):
                continue
            if segs[-1].startswith("{"):
                continue
            word = self.words(segs[-1])[0]
            if len(word) > 3 and singular(word) == word and word not in readable:
                verbs[word] = ({"POST": 1.0}, None, (word,))
        return verbs

    def _field_roles(self, schemas: Mapping[str, Schema]) -> dict[str, tuple[str, ...]]:
        """Words the spec uses for a role of a record it names otherwise.

        Field names say what their reference is to the record holding it: ``primarySalesRep``,
        ``owner``, ``approver`` and ``manager`` are members, ``vendor`` a company, ``urgency`` a
        priority. A word no operation is named by, whose fields (at least two) refer mostly
        (70%) to one name word, stands for that word: "sales reps" finds members.
        """
        vocab = self.vocabulary
        said = (
            vocab.stopwords | vocab.synonyms.keys() | vocab.alternatives.keys() | vocab.count_words
        )
        idf = self._idf
        suffixes = self._suffixes
        totals: dict[str, int] = {}
        pairs: dict[tuple[str, str], int] = {}
        for schema in schemas.values():
            for field_name, field in schema.fields.items():
                if not field.ref:
                    continue
                words = split_words(field_name)
                if not words:
                    continue
                role = singular(words[-1])
                if role in idf or role in said or len(role) < 3:
                    continue
                totals[role] = totals.get(role, 0) + 1
                for target in {singular(w) for w in split_words(field.ref)}:
                    if target in idf and target != role and target not in suffixes:
                        pairs[role, target] = pairs.get((role, target), 0) + 1
        roles: dict[str, list[str]] = {}
        for (role, target), count in pairs.items():
            if totals[role] >= 2 and count >= _ROLE_SHARE * totals[role]:
                roles.setdefault(role, []).append(target)
        return {role: tuple(sorted(targets)) for role, targets in roles.items()}

    @staticmethod
    def _lookup_paths(
        ops: Sequence[Operation], schemas: Mapping[str, Schema]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """Collection paths of lookup tables of a larger record of their module.

        ``ExpenseType`` is what ``ExpenseEntry.type`` refers to (``ExpenseTypeReference``), and
        holds half as many fields or fewer (and few: 20 at most): a list to pick from, not the
        record itself. So is
        ``ScheduleType`` of ``ScheduleEntry``, ``CompanyStatus`` of ``Company``. "submit an
        expense" asks for the entry; the types table answers only when its word is said.
        ``Company`` is referred to by ``Contact`` too, but is no smaller: no lookup.
        """
        # Per module: referenced model name -> the most fields of a record referring to it.
        referrers: dict[tuple[str, str], int] = {}
        models: dict[str, set[str]] = {}
        # A table with records of its own under it, that refer back to it (holidayLists/{id}/
        # holidays, each naming its holidayList), is no lookup.
        children: dict[str, set[str]] = {}  # collection path -> models of the paths under it
        collection: dict[str, str] = {}  # model -> its collection path
        for op in ops:
            model = op.response_model or op.body_model
            if model is None or model not in schemas:
                continue
            names = models.get(op.category)
            if names is None:
                names = models[op.category] = set()
            names.add(model)
            path = op.path
            at = path.find("/{")
            if at < 0:
                continue
            if path.endswith("}") and at == path.rfind("/{"):
                collection.setdefault(model, path[:at])  # /expense/types/{id}
            while at > 0:
                end = path.find("}", at)
                if end + 1 < len(path):  # something under this item
                    under = children.get(path[:at])
                    if under is None:
                        under = children[path[:at]] = set()
                    under.add(model)
                at = path.find("/{", end)
        refs: dict[str, set[str]] = {}  # model -> the models its fields refer to
        for module, names in models.items():
            for name in names:
                found = refs.get(name)
                if found is None:
                    found = refs[name] = {
                        ref.removesuffix("Reference").removesuffix("Info")
                        for ref in {f.ref for f in schemas[name].fields.values()}
                        if ref
                    }
                    found.discard(name)
                size = len(schemas[name].fields)
                for ref in found:
                    if referrers.get((module, ref), 0) < size:
                        referrers[module, ref] = size
        lookups = {
            name
            for module, names in models.items()
            for name in names
            if name in collection
            and not any(name in refs[c] for c in children.get(collection.get(name, ""), ()))
            and len(schemas[name].fields)
            <= min(_LOOKUP_FIELDS, _LOOKUP_SHARE * referrers.get((module, name), 0))
        }
        # A module's main record: of its top-level tables, the one that refers to the most
        # lookup tables (at least two, and more than any other): schedule entries, expense
        # entries, tickets, members. "Maria's schedule" is her schedule entries.
        mains = set()
        for names in models.values():
            ranked = sorted(
                (
                    (len(refs[name] & lookups), collection[name])
                    for name in names
                    if name in collection and collection[name].count("/") == 2
                ),
                reverse=True,
            )
            if ranked and ranked[0][0] >= 2 and (len(ranked) == 1 or ranked[1][0] < ranked[0][0]):
                mains.add(ranked[0][1])
        return frozenset(collection[name] for name in lookups), frozenset(mains)

    def _record_models(
        self, ops: Sequence[Operation], schemas: Mapping[str, Schema]
    ) -> dict[int, str]:
        """Operation index -> the record its PATCH/PUT writes (item writes only)."""
        out: dict[int, str] = {}
        for i, op in enumerate(ops):
            if op.method not in ("PATCH", "PUT") or not op.path.endswith("}"):
                continue
            model = op.response_model or (op.body_model if op.body_kind == "model" else None)
            if model is not None and model in schemas:
                out[i] = model
        return out

    def _record_fields(self, model: str) -> frozenset[str]:
        """Words of the fields of ``model``, read on first need (few queries edit records).

        A field's words are those of its name and of the schema it refers to, without the
        words that end very many schema names ("Reference", "Info"), which say nothing.
        """
        found = self._fields_of.get(model)
        if found is not None:
            return found
        noise = self.vocabulary.field_noise
        suffixes = self._suffixes
        cache = self._field_name_words
        words: set[str] = set()
        for field_name, field in self._schemas[model].fields.items():
            for text in (field_name, field.ref) if field.ref else (field_name,):
                parts = cache.get(text)
                if parts is None:
                    parts = cache[text] = tuple(
                        w
                        for w in map(singular, split_words(text))
                        if len(w) > 1 and w not in noise and w not in suffixes
                    )
                words.update(parts)
        found = self._fields_of[model] = frozenset(words)
        return found

    def _stopword_compounds(self, ops: Sequence[Operation]) -> frozenset[tuple[str, str]]:
        """Adjacent word pairs of path segments whose first word is a stopword (api, member)."""
        stop = self.vocabulary.stopwords
        pairs: set[tuple[str, str]] = set()
        for seg in {s for op in ops for s in op.path.split("/") if s and s[0] != "{"}:
            words = self.words(seg)
            pairs.update(
                (a, b)
                for a, b in zip(words, words[1:], strict=False)
                if a in stop and b not in stop
            )
        return frozenset(pairs)

    def _schema_field_words(self, schemas: Mapping[str, Schema]) -> dict[str, frozenset[str]]:
        """Schema name -> the words of its field names (``serialNumber`` -> serial, number)."""
        noise = self.vocabulary.field_noise
        by_field: dict[str, tuple[str, ...]] = {}  # field names repeat across schemas
        out: dict[str, frozenset[str]] = {}
        for name, schema in schemas.items():
            words: set[str] = set()
            for field_name in schema.fields:
                found = by_field.get(field_name)
                if found is None:
                    found = by_field[field_name] = tuple(
                        w
                        for w in map(singular, split_words(field_name))
                        if len(w) > 1 and w not in noise
                    )
                words.update(found)
            out[name] = frozenset(words)
        return out

    def _segment(self, word: str) -> tuple[str, ...] | None:
        """Split a run-together word into known words (fewest pieces), or None."""
        n = len(word)
        if n < 5:
            return None
        vocab = self._vocab
        best: list[tuple[int, int, tuple[str, ...]] | None] = [None] * (n + 1)
        best[0] = (0, 0, ())
        for end in range(2, n + 1):
            for start in range(max(0, end - 24), end - 1):
                prev = best[start]
                if prev is None:
                    continue
                piece = word[start:end]
                if piece not in vocab and singular(piece) not in vocab:
                    continue
                cand = (prev[0] + 1, prev[1] - len(piece) ** 2, prev[2] + (piece,))
                cur = best[end]
                if cur is None or cand[:2] < cur[:2]:
                    best[end] = cand
        result = best[n]
        if result is None or result[0] < 2:
            return None
        return result[2]

    def words(self, text: str) -> tuple[str, ...]:
        """Normalised words of ``text``: split, run-together words broken, plurals folded."""
        cached = self._words_cache.get(text)
        if cached is None:
            out: list[str] = []
            for w in split_words(text):
                out.extend(self._word_pieces(w))
            cached = self._words_cache[text] = tuple(out)
        return cached

    def _word_pieces(self, w: str) -> tuple[str, ...]:
        cached = self._split_cache.get(w)
        if cached is not None:
            return cached
        s = singular(w)
        if w in self._vocab or s in self._vocab or w.isdigit():
            res: tuple[str, ...] = (s,)
        else:
            pieces = self._segment(w)
            res = tuple(singular(p) for p in pieces) if pieces else (s,)
        self._split_cache[w] = res
        return res

    def _text_words(self, text: str) -> tuple[str, ...]:
        """``words`` without summary noise and numbers (cached: tags and models repeat a lot)."""
        key = "\0" + text
        cached = self._words_cache.get(key)
        if cached is None:
            noise = self.vocabulary.summary_noise
            cached = tuple(w for w in self.words(text) if w not in noise and not w.isdigit())
            self._words_cache[key] = cached
        return cached

    def _segment_words(self, seg: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A path segment's words, and its run-together forms kept searchable as typed."""
        words = self.words(seg)
        raw = tuple(w for w in (singular(w) for w in split_words(seg)) if w not in words)
        return words, raw

    def _index_operation(
        self, op: Operation, terms: dict[str, float], core: dict[str, float], main: bool = False
    ) -> None:
        def add(words: Iterable[str], weight: float, core_weight: float = 0.0) -> None:
            for t in words:
                if terms.get(t, 0.0) < weight:
                    terms[t] = weight
                if core_weight and core.get(t, 0.0) < core_weight:
                    core[t] = core_weight

        vocab = self.vocabulary
        literals = [s for s in op.path.split("/") if s and s[0] != "{"]
        last = len(literals) - 1
        seg_cache = self._seg_cache
        for pos, seg in enumerate(literals):
            found = seg_cache.get(seg)
            if found is None:
                found = seg_cache[seg] = self._segment_words(seg)
            pieces, raw = found
            if pos == 0:
                weight, cw = _W_CATEGORY, _C_CATEGORY
            elif pos == last:
                # The module's main record answers for the module: its own word costs less.
                weight, cw = _W_RESOURCE, _C_MAIN if main else _C_RESOURCE
            else:
                weight, cw = _W_PARENT, _C_PARENT
            if pieces == ("info",) or pieces == ("usage",):
                # Slim "info" lists and "usages" duplicate a main resource; unasked, they rank lower.
                cw = _C_RESOURCE
            add(pieces, weight, cw)
            add(raw, weight)

        if op.summary:
            head, _, rest = _NAMESPACE_RE.sub("", op.summary).partition("\n")
            add(self._text_words(head), _W_SUMMARY, _C_SUMMARY)
            if rest:
                stop = vocab.stopwords
                add((w for w in self._text_words(rest) if w not in stop), _W_DESCRIPTION)
        add(self._text_words(op.tag), _W_TAG)
        if op.body_model:
            add(self._text_words(op.body_model), _W_MODEL)
        if op.response_model:
            add(self._text_words(op.response_model), _W_MODEL)
        add(self._text_words(op.operation_id)[1:], _W_OPID)  # the first word is the method
        for p in op.path_params:
            if p.name not in vocab.anonymous_params:
                add(self._text_words(p.name), _W_PARAM)
        for p in op.query_params:
            if p.name not in vocab.standard_params:
                add(self._text_words(p.name), _W_PARAM)

    # ---- querying -------------------------------------------------------------------------

    def _longer_names(self, word: str) -> list[str]:
        """Name words that start with ``word`` (4+ letters), at most a few, shortest first."""
        if len(word) < 4:
            return []
        names = self._sorted_names
        start = bisect.bisect_left(names, word)
        found = []
        for name in names[start : start + 50]:
            if not name.startswith(word):
                break
            if name != word:
                found.append(name)
        found.sort(key=len)
        return found[:_MAX_PREFIX_ALTERNATIVES]

    def _known(self, word: str) -> bool:
        return word in self._idf or word in self._field_idf

    def _negation(self, words: list[str], start: int) -> tuple[str, int] | None:
        """The catalog's "un-" word for the word after "not" (stopwords skipped), and its place."""
        stop = self.vocabulary.stopwords
        j = start
        while j < len(words) and words[j] in stop:
            j += 1
        if j == len(words):
            return None
        for form in (words[j], *_stems(words[j])):
            if "un" + form in self._idf:
                return "un" + form, j
        return None

    def _said(self, word: str) -> bool:
        """Whether ``word`` means something to the index (a name, field word or synonym)."""
        vocab = self.vocabulary
        if word in vocab.synonyms or word in vocab.alternatives or word in vocab.item_words:
            return True
        if word in vocab.count_words or word in vocab.relations:
            return True
        return self._known(self._base_form(word))

    def _base_form(self, word: str) -> str:
        """``word``, or its base form when only that is in the catalog (``changed`` -> change)."""
        vocab = self.vocabulary
        if self._known(word) or word in vocab.synonyms or word in vocab.alternatives:
            return word
        for stem in _stems(word):
            if self._known(stem) or stem in vocab.synonyms:
                return stem
        return word

    def _participle_object(self, word: str) -> tuple[str, ...]:
        """The object a vocabulary verb implies, for its ``-ed`` form (booked -> schedule entry)."""
        for stem in _stems(word):
            verb = self.vocabulary.verbs.get(stem)
            if verb is not None and verb[2] and verb[2] != ("search",):
                return verb[2]
        return ()

    def _verb_phrases(self, words: list[str], notes: list[str]) -> list[str]:
        """Phrasal verbs and plain-English verbs as the verb they mean ("hand in" -> submit).

        The particle may follow the verb's object ("take Jordan off the team", "send my report
        in"), a few words on, but not past a relation word: in "send the invoice to the client
        in May" the "in" is no particle.
        """
        vocab = self.vocabulary
        table = vocab.verb_phrases
        out = list(words)
        for k, w in enumerate(out):
            forms = table.get(w)
            if forms is None and w.endswith(("ed", "ing")):
                forms = next((table[s] for s in _stems(w) if s in table), None)
            if not forms:
                continue
            particle = None
            for j in range(k + 1, min(len(out), k + 1 + _PARTICLE_REACH)):
                if out[j] in forms:
                    particle = j
                    break
                if out[j] in vocab.relations or out[j] in self._verbs:
                    break
            if particle is not None:
                notes.append(f"'{w} {out[particle]}' -> {forms[out[particle]]}")
                out[k] = forms[out.pop(particle)]
            elif "" in forms:
                notes.append(f"'{w}' -> {forms['']}")
                out[k] = forms[""]
        return out

    def parse(self, query: str, intent_weight: float = 1.0, *, fallback: bool = False) -> _Query:
        """Turn a query into concepts and intent (exposed for tests and the ``why`` text).

        ``fallback`` reads a query that gave no concepts again, less strictly: a stopword the
        vocabulary gives a meaning as a noun counts ("log a call" -> activity), and so does a
        verb that also names something ("log", "merge"), as a concept rather than an extra.
        """
        vocab = self.vocabulary
        # "customer's" -> customer, s. Very long input is cut: no real query needs 40 words.
        text = _LABEL_RE.sub(" ", query[:_MAX_QUERY_CHARS])
        text = _expand_contractions(text)
        raw = [w for w in split_words(text) if w != "s"][:_MAX_QUERY_WORDS]
        methods: dict[str, float] = {}
        shape: str | None = None
        notes: list[str] = []
        words = self._verb_phrases([singular(w) for w in raw], notes)

        # Intent phrases and MSP phrases; a "-" marks where an intent phrase stood, so the word
        # after "how many" is not read as a leading verb ("how many open tickets").
        rewritten: list[str] = []
        i = 0
        while i < len(words):
            pair = (words[i], words[i + 1]) if i + 1 < len(words) else None
            # Phrases look past numbers: "log 2 hours" is "log hours".
            j = i + 1
            while j < len(words) - 1 and words[j].isdigit():
                j += 1
            phrase = vocab.phrases.get((words[i], words[j])) if j < len(words) else None
            after_noun = bool(rewritten) and rewritten[-1] not in vocab.stopwords
            if pair is not None and (
                pair == ("how", "many") or (pair == ("number", "of") and not after_noun)
            ):
                if pair[0] == "how" and words[i + 2 : i + 3] in (["hour"], ["minute"]):
                    # "how many hours" is an amount of time, no count of records.
                    rewritten.append("-")
                    i += 2
                    continue
                # "the number of tickets" counts; "the serial number of a device" does not.
                shape = "count"
                notes.append(f"'{' '.join(pair)}' -> count")
                rewritten.append("-")
                i += 2
            elif pair and pair[0] == "by" and pair[1] in ("id", "identifier", "number"):
                shape = "item"
                notes.append("'by id' -> single item")
                rewritten.append("-")
                i += 2
            elif words[i] == "not" and (negated := self._negation(words, i + 1)) is not None:
                # "expenses not yet posted" -> the catalog's "unposted".
                rewritten.append(negated[0])
                notes.append(f"'not {words[negated[1]]}' -> {negated[0]}")
                i = negated[1] + 1
            elif phrase is not None:
                rewritten.extend(phrase)
                rewritten.extend(words[i + 1 : j])  # the numbers in between
                i = j + 1
            else:
                rewritten.append(words[i])
                i += 1

        # "turn an opportunity into a project", "make it a project": the spec's convert action
        # (POST .../convertToProject), when the catalog has one.
        if "into" in rewritten and "convert" in self._verbs:
            first = next((x for x in rewritten if x not in vocab.leading_skip), None)
            if first in vocab.conversion_verbs:
                at = rewritten.index(first)
                rewritten[at] = "convert"
                rewritten.remove("into")
                notes.append(f"'{first} ... into' -> convert")

        leading = True
        # (word, weight, extra): see _Query.extras.
        content: list[tuple[str, float, bool]] = []
        extra = False
        # Words after "of/on/for/to..." qualify the head noun before them ("notes on a ticket");
        # they count a little less, so the head decides between otherwise equal matches.
        weight = 1.0
        stopwords = vocab.stopwords
        if fallback:
            stopwords = stopwords - vocab.synonyms.keys() - vocab.alternatives.keys()
        plurals = {singular(w) for w in raw if singular(w) != w and len(w) > 3}
        verb_at = -1  # where the verb after an unknown first word stands
        # "what did the customer write", "which categories can I claim": a question reads; its
        # verbs after the first word are no command.
        question = bool(rewritten) and rewritten[0] in vocab.question_words
        relation = ""  # the relation word just read
        of_owner = -1  # the word right after the first "of/on/for": it may own the head
        for k, w in enumerate(rewritten):
            if w == "-":
                leading = False
                continue
            if leading and (w in vocab.leading_skip or (k < verb_at and w in stopwords)):
                continue
            if w in vocab.examples:
                # "ticket sources like email or phone": examples, not what is asked for.
                if content:
                    extra = True
                continue
            if w in stopwords and (w, rewritten[k + 1] if k + 1 < len(rewritten) else "") in (
                self._compounds
            ):
                # "api members": a stopword that starts one of the catalog's names (apiMembers).
                leading = False
                content.append((w, weight, extra))
                continue
            verb = self._verbs.get(w)
            if verb is not None and not leading and w in plurals and w not in raw:
                verb = None  # "Outlook fixes", "the logs": a noun said in the plural
            if verb is not None and verb[2] and rewritten[k + 1 : k + 2] == [verb[2][-1]]:
                verb = None  # "schedule entries": the noun the verb would imply, not the verb
            if verb is not None and (leading or (w not in self._leading_only and not question)):
                leading = False
                verb_methods, verb_shape, implied = verb
                if verb_methods and (not methods or "GET" in methods):
                    methods = dict(verb_methods)
                if verb_shape and shape is None:
                    shape = verb_shape
                notes.append(
                    f"'{w}' -> {'/'.join(verb_methods) or 'GET'}"
                    + (f" {verb_shape}" if verb_shape else "")
                )
                content.extend((x, weight, extra) for x in implied)
                if not implied and w in self._idf:
                    # "link two tickets": the verb may also name what is meant (ticketLinks).
                    content.append((w, _VERB_NAME * weight, not fallback))
                continue
            if w.endswith("ed") and (implied := self._participle_object(w)):
                # "what does Raj have booked", "who is scheduled on this ticket": the participle
                # of a verb that implies its object names that object (a schedule entry).
                leading = False
                content.extend((x, weight, extra) for x in implied)
                continue
            if leading and not w.isdigit() and w not in stopwords and not self._said(w):
                # A first word the catalog does not know, followed by a verb, is a verb the
                # catalog has no word for ("onboard a new client", "write a new article").
                nxt = next(
                    (j for j in range(k + 1, len(rewritten)) if rewritten[j] not in stopwords), -1
                )
                if nxt > 0 and rewritten[nxt] in self._verbs:
                    verb_at = nxt
                    continue
            leading = False
            if w.isdigit():
                # "ticket 4711" names one item; "ticket 4711 notes", "the notes on ticket 4711"
                # and "time logged against ticket 4711" (a qualifier's number) name the parent.
                last = all(x in stopwords or x.isdigit() for x in rewritten[k + 1 :])
                if last and weight == 1.0 and not any(c in plurals for c, _, _ in content):
                    shape = shape or "item"
                continue
            if w in vocab.item_words:
                if shape != "count":
                    shape = "item"
                notes.append(f"'{w}' -> single item")
                continue
            if w in vocab.count_words:
                shape = "count"
                notes.append(f"'{w}' -> count")
                if w == "count":
                    content.append((w, weight, extra))
                continue
            if w in vocab.relations:
                if content:
                    weight = _QUALIFIER
                    relation = w
                continue
            if w not in stopwords:
                if relation in vocab.owner_relations and of_owner < 0:
                    of_owner = len(content)  # "the status of a configuration"
                relation = ""
                content.append((self._base_form(w), weight, extra))

        if shape is None:
            if any(singular(w) != w and len(w) > 3 for w in raw):
                # Plural nouns ask for a collection.
                shape = "collection"
            elif methods.get("GET"):
                # "get a time sheet": one singular thing asked for by a read verb.
                shape = "item"

        concepts: list[dict[str, float]] = []
        labels: list[str] = []
        weights: list[float] = []
        extras: list[dict[str, float]] = []
        seen: set[str] = set()
        # Words the query says itself are concepts of their own, never another's alternative
        # ("who is the contact": contact is asked for, not just one way of reading "who").
        said = {w for w, _, x in content if not x}

        def add_concept(
            alts: dict[str, float], label: str, source: str, is_extra: bool, cw: float
        ) -> None:
            alts = {
                a: v
                for k, (a, v) in enumerate(alts.items())
                if a not in seen and (k == 0 or a == source or a not in said) and self._known(a)
            }
            if alts:
                seen.update(alts)
                if is_extra:
                    extras.append(alts)
                else:
                    concepts.append(alts)
                    labels.append(label)
                    weights.append(cw)

        def add_word(w: str, cw: float, is_extra: bool) -> None:
            targets = vocab.synonyms.get(w)
            if targets is not None:
                for n, t in enumerate(targets):
                    # The user's own word stays a weaker alternative ("user" -> ssoUsers).
                    add_concept({t: cw, w: 0.6 * cw} if n == 0 else {t: cw}, t, w, is_extra, cw)
                notes.append(f"'{w}' -> {' '.join(targets)}")
                return
            pieces = self._word_pieces(w)
            if len(pieces) > 1 and not self._known(w):
                for piece in pieces:
                    if piece not in stopwords:  # "onsite" -> site, not "on"
                        add_concept({piece: cw}, piece, piece, is_extra, cw)
                return
            alts = {w: 1.0, **vocab.alternatives.get(w, {})}
            for target in self._roles.get(w, ()):
                alts.setdefault(target, _ROLE)
            if w not in self._idf:
                # A word no operation is named by may start one that is ("ship" -> shipment).
                for longer in self._longer_names(w):
                    alts.setdefault(longer, _PREFIX)
            add_concept({a: v * cw for a, v in alts.items()}, w, w, is_extra, cw)

        # The record a query may be about: its first noun, or what owns it ("the status of a
        # configuration"); other words may be that record's fields (see _field_edits).
        owners: list[int] = []
        # Concepts first (in query order), so an example that repeats one stays a concept.
        for pos, (w, cw, is_extra) in sorted(enumerate(content), key=lambda c: c[1][2]):
            before = len(concepts)
            add_word(w, cw, is_extra)
            if len(concepts) > before and (not owners or pos == of_owner):
                owners.extend(range(before, len(concepts)))

        if intent_weight != 1.0:
            methods = {m: v * intent_weight for m, v in methods.items()}
        return _Query(
            tuple(concepts),
            tuple(labels),
            tuple(weights),
            frozenset(owners),
            tuple(extras),
            methods,
            shape,
            tuple(notes),
            frozenset(plurals),
        )

    def search(
        self,
        query: str,
        max_results: int = 10,
        visible: Visible | None = None,
        *,
        intent_weight: float = 1.0,
    ) -> list[Hit]:
        """Rank operations for ``query``; ``visible`` filters out operations the caller hides."""
        if not isinstance(query, str):
            raise TypeError(f"query must be text, not {type(query).__name__}")
        if not isinstance(max_results, int) or max_results < 0:
            raise ValueError(f"max_results must be a whole number >= 0, not {max_results!r}")
        if not query.strip() or max_results == 0:
            return []
        q = self.parse(query, intent_weight)
        if not q.concepts:
            # Words that mean something never give nothing: read them again, less strictly.
            q = self.parse(query, intent_weight, fallback=True)
        if not q.concepts:
            return []

        scores: dict[int, float] = {}
        core_hit: dict[int, float] = {}
        counts: dict[int, float] = {}
        idf = self._idf
        field_idf = self._field_idf
        postings = self._postings
        field_postings = self._field_postings
        for alts in q.concepts:
            if len(alts) == 1:
                # One word: its name and field postings never share an operation.
                ((alt, aw),) = alts.items()
                if alt in idf:
                    w = aw * idf[alt]
                    for i, fw, cw in postings[alt]:
                        scores[i] = scores.get(i, 0.0) + w * fw
                        core_hit[i] = core_hit.get(i, 0.0) + cw
                        counts[i] = counts.get(i, 0.0) + 1.0
                if alt in field_idf:
                    v = aw * field_idf[alt] * _W_FIELD
                    for i in field_postings[alt]:
                        scores[i] = scores.get(i, 0.0) + v
                        counts[i] = counts.get(i, 0.0) + _FIELD_COORD
                continue
            # Per operation, the best alternative: (value, penalty relief, coordination share).
            best: dict[int, tuple[float, float, float]] = {}
            for alt, aw in alts.items():
                if alt in idf:
                    w = aw * idf[alt]
                    for i, fw, cw in postings[alt]:
                        v = w * fw
                        b = best.get(i)
                        if b is None or v > b[0]:
                            best[i] = (v, cw, 1.0)
                if alt in field_idf:
                    v = aw * field_idf[alt] * _W_FIELD
                    for i in field_postings[alt]:
                        b = best.get(i)
                        if b is None or v > b[0]:
                            best[i] = (v, 0.0, _FIELD_COORD)
            for i, (v, cw, share) in best.items():
                scores[i] = scores.get(i, 0.0) + v
                core_hit[i] = core_hit.get(i, 0.0) + cw
                counts[i] = counts.get(i, 0.0) + share

        for alts in q.extras:
            # Extras only add, and relieve the unmatched-name penalty of the words they match
            # ("link" of ticketLinks was said); no coordination share (they are not asked for).
            best_extra: dict[int, tuple[float, float]] = {}
            for alt, aw in alts.items():
                if alt in idf:
                    w = aw * idf[alt] * _EXAMPLE
                    for i, fw, cw in postings[alt]:
                        if i in scores and w * fw > best_extra.get(i, (0.0, 0.0))[0]:
                            best_extra[i] = (w * fw, cw)
                if alt in field_idf:
                    v = aw * field_idf[alt] * _W_FIELD * _EXAMPLE
                    for i in field_postings[alt]:
                        if i in scores and v > best_extra.get(i, (0.0, 0.0))[0]:
                            best_extra[i] = (v, 0.0)
            for i, (v, cw) in best_extra.items():
                scores[i] += v
                core_hit[i] = core_hit.get(i, 0.0) + cw

        if q.methods.get("PATCH", 0.0) > 0.0 and len(q.concepts) > 1 and "/" not in query:
            # (A path names its operation exactly; its words are no record and field.)
            self._field_edits(q, scores, counts)

        if self._lookups:
            # A lookup table answers when the query names it: "expenses" are entries, "expense
            # types" and "kinds of expense" the table. (Counted as an unmatched name word.)
            said = {a for alts in q.concepts for a in alts}
            cost = _LOOKUP / _UNMATCHED
            # To change "a company's status" is to edit the company (a field of it, see
            # _field_edits); the status table is edited when said in the plural.
            field = q.methods.get("PATCH", 0.0) > 0.0
            for table, members in self._lookups.items():
                named = table & said
                if not named or (field and not named & q.plurals):
                    c = cost if not named else _LOOKUP_FIELD / _UNMATCHED
                    for i in members:
                        if i in scores:
                            core_hit[i] = core_hit.get(i, 0.0) - c

        bonus = self._intent_bonus(q.methods, q.shape, intent_weight)
        shape_class = self._shape_class
        core_total = self._core_total
        n_concepts = len(q.concepts)
        # Coordination: an operation matching more of the query's concepts is worth more than
        # one matching a single rare word very well. Then the unmatched-name penalty and intent.
        final = [
            (
                s * (counts[i] / n_concepts) ** _COORD
                - _UNMATCHED * (core_total[i] - core_hit.get(i, 0.0))
                + bonus[shape_class[i]],
                i,
            )
            for i, s in scores.items()
        ]
        if visible is None:
            # A few more than asked, so ties at the cut are broken by the rule below.
            pool = heapq.nlargest(max_results + _TIE_POOL, final)
        else:
            pool = sorted(final, reverse=True)  # hidden operations are skipped: more may be needed
        # Ties (to 6 places) go to the shorter path (the main resource), then registry order.
        path_len = self._path_len
        ranked = sorted(pool, key=lambda t: (round(t[0], 6), -path_len[t[1]], -t[1]), reverse=True)
        hits: list[Hit] = []
        for s, i in ranked:
            op = self.operations[i]
            if visible is not None and not visible(op):
                continue
            hits.append(self._hit(op, i, s, q))
            if len(hits) >= max_results:
                break
        return hits

    def _field_edits(self, q: _Query, scores: dict[int, float], counts: dict[int, float]) -> None:
        """Credit record edits whose record has the fields the query names.

        "change a ticket's priority", "update the client's phone number", "move a deal to the
        next stage", "the status of a configuration": the query names a record (its first
        noun, or the owner after "of") and some of that record's fields. A PATCH/PUT of a
        record the query names that way earns, for each other concept that is one of the
        record's fields, a parent-level name match, so it beats the field's own resource
        (PATCH /service/priorities/{id}) and the records that merely mention the first noun.
        """
        edit_models = self._edit_models
        terms = self._terms
        idf = self._idf
        field_idf = self._field_idf
        concepts = tuple(enumerate(zip(q.concepts, q.weights, strict=True)))
        # Only record writes named by an owner concept can qualify: read them off its postings.
        candidates = {
            i
            for c in q.owners
            for a in q.concepts[c]
            if a in idf
            for i, _, _ in self._postings[a]
            if i in edit_models
        }
        for i in candidates:
            fields = self._record_fields(edit_models[i])
            names = terms[i]
            owner = False
            restore = 0.0  # a qualifier's discount, given back when it owns the field
            gain = 0.0
            share = 0.0
            for c, (alts, cw) in concepts:
                if any(a in names for a in alts):
                    if c in q.owners:
                        owner = True
                        v = max(names.get(a, 0.0) * aw * idf.get(a, 0.0) for a, aw in alts.items())
                        restore += v * (1.0 / cw - 1.0)
                    continue
                best = max(
                    (
                        aw * idf.get(a, field_idf.get(a, 0.0))
                        for a, aw in alts.items()
                        if a in fields
                    ),
                    default=0.0,
                )
                if not best:
                    continue
                gain += best * _W_EDIT
                if any(i in self._field_set(a) for a in alts):
                    # Already counted as a field word: replace that, do not add to it.
                    gain -= max(aw * field_idf.get(a, 0.0) for a, aw in alts.items()) * _W_FIELD
                    share += 1.0 - _FIELD_COORD
                else:
                    share += 1.0
            if owner and gain > 0.0:
                scores[i] += gain + restore
                counts[i] = counts.get(i, 0.0) + share

    def _intent_bonus(
        self, methods: dict[str, float], shape: str | None, intent_weight: float
    ) -> dict[tuple[str, bool, bool], float]:
        """The intent bonus of every (method, is item, is count) class of operation."""
        b_method = _B_METHOD * intent_weight
        b_shape = _B_SHAPE * intent_weight
        b_count = _B_COUNT * intent_weight
        out = {}
        for cls in self._classes:
            m, item, count = cls
            b = 0.0
            if methods:
                b += b_method * methods.get(m, -1.0)
            elif m == "GET":
                b += _B_READ * b_method / _B_METHOD  # reading is the likeliest wish, none said
            if shape == "count":
                b += b_count if count else -b_count
            else:
                if count:
                    b -= b_count
                if shape == "item" and m == "GET":
                    b += b_shape if item else -b_shape
                elif shape == "collection" and m in ("GET", "POST"):
                    b += -b_shape if item else b_shape
            out[cls] = b
        return out

    def _hit(self, op: Operation, i: int, score: float, q: _Query) -> Hit:
        terms = self._terms[i]
        matched = tuple(
            label
            for label, alts in zip(q.labels, q.concepts, strict=True)
            if any(a in terms for a in alts)
        )
        fields = tuple(
            label
            for label, alts in zip(q.labels, q.concepts, strict=True)
            if label not in matched
            and any(i in self._field_set(a) for a in alts)  # only for the few hits shown
        )
        parts = []
        if matched:
            parts.append("matched " + ", ".join(matched))
        if fields:
            parts.append("fields " + ", ".join(fields))
        parts.extend(q.notes)
        return Hit(op, round(score, 3), matched + fields, "; ".join(parts))

    def _field_set(self, term: str) -> frozenset[int]:
        cached = self._field_sets.get(term)
        if cached is None:
            cached = self._field_sets[term] = frozenset(self._field_postings.get(term, ()))
        return cached


# --------------------------------------------------------------------------------------------
# Module-level API over the generated registry
# --------------------------------------------------------------------------------------------

_INDEX: SearchIndex | None = None
_INDEX_LOCK = threading.Lock()


def get_index() -> SearchIndex:
    """The index over the registry's operations and schemas, built on first use."""
    global _INDEX
    if _INDEX is None:
        with _INDEX_LOCK:  # server threads may race to the first query; build once
            if _INDEX is None:
                from cwm_generated.registry import OPERATIONS
                from cwm_generated.schemas import SCHEMAS

                _INDEX = SearchIndex(OPERATIONS, SCHEMAS)
    return _INDEX


def rank(
    query: str, max_results: int = 10, visible: Visible | None = None, *, natural: bool = False
) -> list[Hit]:
    """Ranked registry operations for ``query`` (with their operations, for code and tests).

    ``natural`` weighs the query's intent (method, item/collection/count) more: meant for
    sentences ("delete the time entry I logged"), where the verb matters as much as the nouns.
    """
    weight = _NATURAL_INTENT if natural else 1.0
    return get_index().search(query, max_results, visible, intent_weight=weight)


def search(
    query: str, max_results: int = 10, visible: Visible | None = None, *, natural: bool = False
) -> SearchResult:
    """Rank registry operations for a keyword or natural-language query, as the tools show it.

    ``visible`` (optional) returns False for operations the caller must not show (policy).
    An empty query, or one of stopwords only, gives no results; a stopword the vocabulary gives
    a meaning as a noun counts when nothing else does ("log a call" -> activities).
    """
    from cwm_gateway.results import SearchResult

    hits = rank(query, max_results, visible, natural=natural)
    return SearchResult(results=[h.endpoint() for h in hits])


def natural_language_search(
    query: str, max_results: int = 10, visible: Visible | None = None
) -> SearchResult:
    """:func:`search` with the query's intent weighed more (``natural=True``)."""
    return search(query, max_results, visible, natural=True)
