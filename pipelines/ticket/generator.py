"""Synthetic help-desk tickets whose labels follow a documented rule, so the best reachable scores are known.

A ticket has the fields a real help desk exports: ``title`` and ``body``
(strings of words), ``tags`` (0..5 of 100 tag names), ``department`` (one of
4 names), ``priority`` (a score in [0, 1]) and ``difficulty`` (quick /
medium / difficult).

**The rule.** Let ``T`` and ``B`` be the *sets* of distinct words of the
title and body and ``G`` the set of tags. Each department ``d`` has 25
keywords ``K_d`` and 10 tags ``H_d``::

    s_d        = 1.5 |T ∩ K_d| + 1.0 |B ∩ K_d| + 2.0 |G ∩ H_d|
    department ~ softmax(s / 0.6)                      (noise: a draw from the softmax)
    mu         = sigmoid(-2.0 + 1.2 |(T ∪ B) ∩ U| + 1.5 |G ∩ V| - 0.8 |(T ∪ B) ∩ C|)
    priority   = clip(mu + N(0, 0.08^2), 0, 1)
    difficulty ~ softmax(w · [1, |(T ∪ B) ∩ X|, len(body) / 40])

with urgency words ``U``, urgent tags ``V``, calming words ``C`` and
technical words ``X``. The features the model sees (multi-hot title, body
and tags) determine ``s`` and ``mu`` exactly, so the ideal predictor is
``argmax s`` for the department and ``E[priority | features]`` (the mean of
the clipped normal) for the priority. :func:`ideal_predictions` computes it;
the generator reports its accuracy and RMSE on every split: the ceiling
the trained model is measured against.

Every ticket is a pure function of ``(seed, index)``, so the data is the same
whatever the number of Beam workers or shards.

This module is the ticket task's generator for ``GeneratorExampleGen``: it defines
:func:`make_record`, :func:`to_example` and :class:`Summary` (the ideal predictor's scores).

**Spans and drift** (continuous training). Span ``k`` of a data set is another day of tickets: a
pure function of ``(seed, k, index)``. Two kinds of change a real help desk sees can be asked for:

* ``new_product_line`` (benign drift): a smart-home product line launches. Customers write about
  technical problems more often (the topic mix moves from 25% to 40% technical), using ten new
  words that the rule counts as technical keywords. The ideal predictor knows the new words, so
  the ceiling stays comparable; a model trained before the launch has never seen them.
* ``renamed_keywords`` (a quiet vocabulary shift): a new help-desk form makes half of the customers
  use other words for the department keywords (each keyword has its own new word); the labels do
  not change. A model trained before has never seen the new words.
* ``broken_export`` (a faulty export job): 30% of the bodies are empty, 10% of the departments are
  ``sales`` (no such department), 20% of the priorities are on a 0-100 scale instead of [0, 1],
  and the ``tags`` column is missing altogether.

Long because the synthetic tickets (words, departments, priorities, drift scenarios) are one model of data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf

DEPARTMENTS = ("billing", "technical", "account", "shipping")
DIFFICULTIES = ("quick", "medium", "difficult")
DEPARTMENT_TEMPERATURE = 0.6
PRIORITY_NOISE = 0.08

_KEYWORDS = {
    "billing": "invoice refund charge payment card billed price subscription receipt overcharged plan discount "
    "credit vat coupon renewal fee balance paypal bank transaction cancelled upgrade downgrade quote",
    "technical": "error crash bug login timeout install update server api sync freeze slow broken app browser "
    "connection database firmware driver exception reboot config certificate upload plugin",
    "account": "password username email profile settings verify locked reset delete privacy security "
    "twofactor avatar permissions admin invite team rename merge deactivate recovery signin phone sso gdpr",
    "shipping": "delivery package tracking courier shipment parcel delayed address warehouse lost damaged "
    "return customs dispatch carrier label pickup postcode express pallet freight arrival box stock",
}
_URGENT_WORDS = "urgent asap immediately critical outage down emergency blocked production deadline".split()
_CALM_WORDS = "whenever question curious wondering suggestion feedback minor someday idea".split()
_TECHNICAL_WORDS = "api database firmware driver exception config certificate server sync integration".split()
_URGENT_TAGS = ("urgent", "outage", "vip", "security-incident", "data-loss")
_DEPARTMENT_TAG_STEMS = {
    "billing": "invoices refunds payments cards pricing subscriptions receipts taxes coupons plans",
    "technical": "bugs crashes performance mobile-app web-app api-access integrations sync-issues installs updates",
    "account": "passwords logins profiles permissions privacy two-factor teams sso verification deletion",
    "shipping": "deliveries tracking returns customs couriers damages addresses pickups freight stock-levels",
}
_NEUTRAL_TAGS = (
    "android ios windows macos linux chrome firefox safari edge email-channel chat-channel phone-channel "
    "web-form twitter eu us apac latam enterprise smb free-tier trial partner reseller onboarding churn-risk "
    "renewal-due beta legacy migration english german french spanish japanese portuguese italian dutch "
    "first-contact follow-up escalated reopened duplicate feature-request documentation training "
    "tablet desktop self-serve priority-support holiday weekend automation accessibility education"
).split()


def _pseudo_words(count: int, seed: int) -> list[str]:
    """Pronounceable filler words ('lorvak', 'temisu', ...), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    consonants, vowels = list("bcdfghjklmnprstvz"), list("aeiou")
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < count:
        syllables = rng.integers(2, 4)
        word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables))
        if rng.random() < 0.5:
            word += rng.choice(consonants)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


@dataclasses.dataclass(frozen=True)
class Lexicon:
    """All words and tags the generator uses (fixed: independent of the data seed)."""

    keywords: dict[str, tuple[str, ...]]
    department_tags: dict[str, tuple[str, ...]]
    tags: tuple[str, ...]
    filler: tuple[str, ...]
    filler_cdf: np.ndarray

    @classmethod
    def build(cls, filler_size: int = 14000) -> Lexicon:
        """The standard lexicon: 100 keywords, 100 tags, Zipf-distributed filler words."""
        keywords = {d: tuple(words.split()) for d, words in _KEYWORDS.items()}
        department_tags = {d: tuple(stems.split()) for d, stems in _DEPARTMENT_TAG_STEMS.items()}
        tags = tuple(t for d in DEPARTMENTS for t in department_tags[d]) + _URGENT_TAGS + tuple(_NEUTRAL_TAGS)
        assert len(tags) == 100 and len(set(tags)) == 100, len(tags)
        reserved = {w for ws in keywords.values() for w in ws} | set(_URGENT_WORDS) | set(_CALM_WORDS)
        filler = tuple(w for w in _pseudo_words(filler_size + 500, seed=7) if w not in reserved)[:filler_size]
        ranks = np.arange(1, len(filler) + 1, dtype=np.float64)
        weights = 1.0 / ranks**1.05
        return cls(keywords, department_tags, tags, filler, np.cumsum(weights / weights.sum()))


LEXICON = Lexicon.build()
DRIFTS = ("none", "new_product_line", "broken_export", "renamed_keywords")
PRODUCT_LINE_WORDS = tuple(
    "thermostat doorbell zigbee pairing smartplug camera sensor bulb hubapp voiceassistant".split()
)
PRODUCT_LINE_LEXICON = dataclasses.replace(
    LEXICON, keywords={**LEXICON.keywords, "technical": LEXICON.keywords["technical"] + PRODUCT_LINE_WORDS}
)
PRODUCT_LINE_TOPICS = {"billing": 0.2, "technical": 0.4, "account": 0.2, "shipping": 0.2}
_KEYWORD_LIST = [w for d in DEPARTMENTS for w in LEXICON.keywords[d]]
RENAMED_KEYWORDS = dict(
    zip(_KEYWORD_LIST, [w for w in _pseudo_words(400, seed=11) if w not in set(LEXICON.filler)], strict=False)
)
RENAMED_SHARE = 0.5


def _rng(seed: int, index: int, span: int = 0) -> np.random.Generator:
    """Span 0 keeps the original data sets; span k > 0 is another day of the same data set."""
    return np.random.default_rng(np.random.SeedSequence([seed, index] if span == 0 else [seed, span, index]))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def department_scores(title: str, body: str, tags: Iterable[str], lexicon: Lexicon = LEXICON) -> np.ndarray:
    """The rule's department scores ``s_d`` from the words and tags."""
    title_words, body_words, tag_set = set(title.lower().split()), set(body.lower().split()), set(tags)
    return np.array(
        [
            1.5 * len(title_words & set(lexicon.keywords[d]))
            + 1.0 * len(body_words & set(lexicon.keywords[d]))
            + 2.0 * len(tag_set & set(lexicon.department_tags[d]))
            for d in DEPARTMENTS
        ]
    )


def priority_mean(title: str, body: str, tags: Iterable[str]) -> float:
    """The rule's noiseless priority ``mu`` (before noise and clipping)."""
    words, tag_set = set(title.lower().split()) | set(body.lower().split()), set(tags)
    z = (
        -2.0
        + 1.2 * len(words & set(_URGENT_WORDS))
        + 1.5 * len(tag_set & set(_URGENT_TAGS))
        - 0.8 * len(words & set(_CALM_WORDS))
    )
    return 1.0 / (1.0 + math.exp(-z))


def expected_priority(mu: float, sigma: float = PRIORITY_NOISE) -> float:
    """E[clip(mu + N(0, sigma^2), 0, 1)]: what the ideal predictor predicts."""

    def phi(x: float) -> float:
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return 0.5 * (1 + math.erf(x / math.sqrt(2)))

    a, b = (0 - mu) / sigma, (1 - mu) / sigma
    return mu * (cdf(b) - cdf(a)) + sigma * (phi(a) - phi(b)) + (1 - cdf(b))


def _difficulty_logits(words: set[str], body_length: int) -> np.ndarray:
    technical = len(words & set(_TECHNICAL_WORDS))
    return np.array([1.5 - 0.8 * technical - body_length / 40, 0.5, -1.0 + 1.0 * technical + body_length / 40])


def make_ticket(
    seed: int, index: int, lexicon: Lexicon = LEXICON, span: int = 0, topics: dict[str, float] | None = None
) -> dict:
    """Generate ticket ``index`` of the data set ``seed`` on day ``span`` (a pure function of them)."""
    rng = _rng(seed, index, span)
    if topics:  # what the customer is writing about
        topic = DEPARTMENTS[rng.choice(len(DEPARTMENTS), p=[topics[d] for d in DEPARTMENTS])]
    else:
        topic = DEPARTMENTS[rng.integers(len(DEPARTMENTS))]
    other = [d for d in DEPARTMENTS if d != topic]

    def words(n: int, keyword_rate: float) -> list[str]:
        out = []
        for _ in range(n):
            r = rng.random()
            if r < keyword_rate:
                dept = topic if rng.random() < 0.75 else other[rng.integers(3)]
                out.append(lexicon.keywords[dept][rng.integers(len(lexicon.keywords[dept]))])
            elif r < keyword_rate + 0.03:
                out.append(_URGENT_WORDS[rng.integers(len(_URGENT_WORDS))])
            elif r < keyword_rate + 0.05:
                out.append(_CALM_WORDS[rng.integers(len(_CALM_WORDS))])
            else:
                position = int(np.searchsorted(lexicon.filler_cdf, rng.random(), side="right"))
                out.append(lexicon.filler[min(position, len(lexicon.filler) - 1)])
        return out

    title_len = 0 if rng.random() < 0.02 else int(rng.integers(3, 9))  # some tickets have no title
    title = " ".join(words(title_len, 0.25)).capitalize()
    body = " ".join(words(int(rng.integers(10, 60)), 0.08))
    n_tags = int(rng.choice(6, p=[0.15, 0.3, 0.25, 0.15, 0.1, 0.05]))
    tags: set[str] = set()
    for _ in range(n_tags):
        r = rng.random()
        if r < 0.5:
            dept = topic if rng.random() < 0.8 else other[rng.integers(3)]
            tags.add(lexicon.department_tags[dept][rng.integers(10)])
        elif r < 0.6:
            tags.add(_URGENT_TAGS[rng.integers(len(_URGENT_TAGS))])
        else:
            tags.add(_NEUTRAL_TAGS[rng.integers(len(_NEUTRAL_TAGS))])
    tag_list = sorted(tags)

    scores = department_scores(title, body, tag_list, lexicon)
    department = DEPARTMENTS[rng.choice(4, p=_softmax(scores / DEPARTMENT_TEMPERATURE))]
    mu = priority_mean(title, body, tag_list)
    priority = float(np.clip(mu + rng.normal(0, PRIORITY_NOISE), 0.0, 1.0))
    all_words = set(title.lower().split()) | set(body.lower().split())
    difficulty = DIFFICULTIES[rng.choice(3, p=_softmax(_difficulty_logits(all_words, len(body.split()))))]
    return {
        "ticket_id": f"{seed}-{index:08d}",
        "title": title,
        "body": body,
        "tags": tag_list,
        "department": department,
        "priority": priority,
        "difficulty": difficulty,
    }


def make_record(seed: int, index: int, options: dict | None = None) -> dict:
    """GeneratorExampleGen's hook: ticket ``index`` of the data set ``seed``.

    ``options["span"]`` is the day, ``options["drift"]`` the change (see the module docstring).
    """
    options = options or {}
    span, drift = int(options.get("span", 0)), options.get("drift", "none")
    if drift not in DRIFTS:
        raise ValueError(f"drift {drift!r} is not one of {DRIFTS}")
    if drift == "new_product_line":
        ticket = make_ticket(seed, index, PRODUCT_LINE_LEXICON, span=span, topics=PRODUCT_LINE_TOPICS)
        return {**ticket, "drift": drift}
    ticket = make_ticket(seed, index, span=span)
    if drift == "broken_export":
        rng = np.random.default_rng(np.random.SeedSequence([seed, span, index, 99]))
        if rng.random() < 0.3:
            ticket["body"] = ""
        if rng.random() < 0.1:
            ticket["department"] = "sales"
        if rng.random() < 0.2:
            ticket["priority"] = round(100 * ticket["priority"], 1)
        del ticket["tags"]  # the export dropped the column
        ticket["drift"] = drift
    if drift == "renamed_keywords":
        rng = np.random.default_rng(np.random.SeedSequence([seed, span, index, 98]))
        if rng.random() < RENAMED_SHARE:
            for field in ("title", "body"):
                ticket[field] = " ".join(RENAMED_KEYWORDS.get(w, w) for w in ticket[field].split(" "))
        ticket["drift"] = drift
    return ticket


def to_example(ticket: dict) -> tf.train.Example:
    """Encode a ticket with explicit types: text as bytes, tags as a (possibly empty) bytes list."""

    def text(*values: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "ticket_id": text(ticket["ticket_id"]),
                "title": text(ticket["title"]),
                "body": text(ticket["body"]),
                **({"tags": text(*ticket["tags"])} if "tags" in ticket else {}),
                "department": text(ticket["department"]),
                "difficulty": text(ticket["difficulty"]),
                "priority": tf.train.Feature(float_list=tf.train.FloatList(value=[ticket["priority"]])),
            }
        )
    )


def ideal_predictions(ticket: dict, lexicon: Lexicon | None = None) -> dict:
    """What the Bayes-optimal predictor, which knows the rule (and the product line's words), predicts."""
    if lexicon is None:
        lexicon = PRODUCT_LINE_LEXICON if ticket.get("drift") == "new_product_line" else LEXICON
    tags = ticket.get("tags", [])
    scores = department_scores(ticket["title"], ticket["body"], tags, lexicon)
    words = set(ticket["title"].lower().split()) | set(ticket["body"].lower().split())
    mu = priority_mean(ticket["title"], ticket["body"], tags)
    best = np.flatnonzero(scores == scores.max())
    return {
        # Ties are broken like a softmax would: the first of the tied best departments.
        "department": DEPARTMENTS[int(best[0])],
        "priority": expected_priority(mu),
        "difficulty": DIFFICULTIES[int(np.argmax(_difficulty_logits(words, len(ticket["body"].split()))))],
    }


@dataclasses.dataclass
class Summary:
    """The ceiling: running sums of the ideal predictor's scores on one split (combinable across Beam workers)."""

    count: int = 0
    department_correct: int = 0
    difficulty_correct: int = 0
    priority_squared_error: float = 0.0
    priority_absolute_error: float = 0.0

    def add(self, ticket: dict) -> Summary:
        """Account for one ticket."""
        ideal = ideal_predictions(ticket)
        self.count += 1
        self.department_correct += int(ideal["department"] == ticket["department"])
        self.difficulty_correct += int(ideal["difficulty"] == ticket["difficulty"])
        error = ideal["priority"] - ticket["priority"]
        self.priority_squared_error += error * error
        self.priority_absolute_error += abs(error)
        return self

    def merge(self, others: Sequence[Summary]) -> Summary:
        """Sum with other partial results."""
        for o in others:
            self.count += o.count
            self.department_correct += o.department_correct
            self.difficulty_correct += o.difficulty_correct
            self.priority_squared_error += o.priority_squared_error
            self.priority_absolute_error += o.priority_absolute_error
        return self

    def report(self) -> dict:
        """The ideal predictor's department accuracy, priority RMSE/MAE and difficulty accuracy."""
        n = max(self.count, 1)
        return {
            "examples": self.count,
            "department_accuracy": self.department_correct / n,
            "priority_rmse": math.sqrt(self.priority_squared_error / n),
            "priority_mae": self.priority_absolute_error / n,
            "difficulty_accuracy": self.difficulty_correct / n,
        }
