"""Secret detection: which field names hold secrets, and where secrets sit inside text.

Two questions, both answered here for :class:`llmlog.sanitize.Sanitizer`:

* :func:`is_secret_name`: does a field named like this hold a secret? The name is normalised
  (camelCase split, ``-_. `` and other separators, case) into words, and judged by the words it
  ends with: ``api_key``, ``openaiKey``, ``X-Api-Key``, ``aws_access_key_id``, ``db_pass``,
  ``github_token``, ``Authorization`` are secrets; ``max_tokens``, ``token_count``,
  ``keyword``, ``monkey``, ``cache_key``, ``eos_token``, ``password_length`` are not.
* :class:`SecretScanner`: where, inside any text, a secret is written. It finds the well-known
  token shapes (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe, Hugging Face... keys),
  JWTs, PEM private-key blocks, the password of credentials in URLs and DSNs, ``Bearer`` tokens,
  and values assigned to a secret name (``?api_key=...``, ``password=...``,
  ``"token": "..."``, ``Authorization: Basic ...``). Only the secret part is replaced, by a marker
  naming its kind: ``postgres://app:[REDACTED:url-password]@db:5432/app``.

Why not a detector library: detect-secrets (the maintained peer) scans one line in about 0.5 ms
and a 10 KB prompt in about 65 ms here, and has no pattern for OpenAI, Anthropic, Hugging Face or
Google keys; a logger pays per entry, so this module is built for that cost instead
(docs/redaction.md has the figures).

Speed is the design constraint. CPython's ``re`` searches fast only for a pattern that starts with
one literal character (a character class at the start costs about 10 ns per character of text),
and ``c in text`` for one character is a ``memchr``. So every shape is found through an *anchor*,
a character it must contain (``-`` for ``sk-...``, ``_`` for ``ghp_...``, ``:`` for URLs and
headers, ``=`` for assignments, ``A`` for ``AKIA...``/``AIza...``, ``J`` for ``eyJ...``, ``B`` for
``Bearer``), and each anchor's pattern, which starts with that character and looks back with fixed
widths for the rest of the prefix, runs only over text that holds the anchor.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from functools import cache, lru_cache

__all__ = [
    "PLAIN",
    "SECRET",
    "SHAPED",
    "SecretScanner",
    "is_credential_shaped",
    "is_secret_name",
    "name_class",
    "name_words",
]

# -- names ---------------------------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^a-z0-9]+|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")

#: Words that make a name secret wherever they stand, unless a descriptor follows them
#: (``password`` and ``new_password`` are secrets, ``password_length`` is not).
_STRONG = frozenset(
    {
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "creds",
        "authorization",
        "bearer",
        "jwt",
        "dsn",
        "cookie",
        "cookies",
        "signature",
        "csrf",
        "xsrf",
        "apikey",
        "privatekey",
    }
)
#: Words written together that end like a secret word (``apikey``, ``accesstoken``,
#: ``clientsecret``, ``dbpassword``).
_STRONG_ENDINGS = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "apikey",
    "privatekey",
    "secretkey",
    "accesskey",
    "credentials",
    "credential",
)
#: Words that are secrets only at the end of a name (or followed by a word of ``_TRAILING``), and
#: not after one of their ``_MODIFIERS`` (``api_key``, ``key``; not ``key_name``, ``cache_key``).
_WEAK = frozenset({"token", "key", "keys", "auth", "sig", "pass"})
#: Words that may follow a secret word and keep it a secret (``auth_header``, ``token_value``;
#: ``id`` only after ``key``: an access key id is half a credential, a token id is a number).
_TRAILING = frozenset(
    {
        "value",
        "values",
        "string",
        "str",
        "header",
        "headers",
        "b64",
        "base64",
        "hex",
        "raw",
        "bytes",
        "text",
        "plain",
        "plaintext",
        "enc",
        "encoded",
        "old",
        "new",
        "current",
        "prev",
        "previous",
        "override",
    }
)
#: Words that, following a secret word, say the name holds something *about* the secret.
_DESCRIPTORS = frozenset(
    {
        "count",
        "counts",
        "length",
        "len",
        "size",
        "min",
        "max",
        "policy",
        "rule",
        "rules",
        "strength",
        "name",
        "names",
        "type",
        "types",
        "kind",
        "format",
        "id",
        "ids",
        "arn",
        "ref",
        "path",
        "file",
        "filename",
        "dir",
        "url",
        "uri",
        "endpoint",
        "env",
        "var",
        "version",
        "algorithm",
        "alg",
        "method",
        "scheme",
        "mode",
        "provider",
        "manager",
        "source",
        "location",
        "store",
        "expiry",
        "expires",
        "expiration",
        "expired",
        "ttl",
        "age",
        "lifetime",
        "domain",
        "secure",
        "httponly",
        "samesite",
        "enabled",
        "required",
        "set",
        "present",
        "configured",
        "hint",
        "prompt",
        "label",
        "field",
        "param",
        "audience",
        "issuer",
        "reset",
        "changed",
        "rotation",
        "error",
        "errors",
        "valid",
        "invalid",
        "usage",
        "limit",
        "limits",
        "budget",
        "info",
        "index",
        "idx",
        "estimate",
        "total",
        "cost",
        "price",
        "logprob",
        "logprobs",
        "prob",
        "probs",
        "map",
        "mapping",
    }
)
#: Words before a weak secret word that make it harmless (``cache_key``, ``public_key``,
#: ``input_key``, ``eos_token``, ``first_pass``).
_MODIFIERS: dict[str, frozenset[str]] = {
    "key": frozenset(
        {
            "cache",
            "sort",
            "sorting",
            "partition",
            "primary",
            "foreign",
            "routing",
            "idempotency",
            "dedup",
            "dedupe",
            "deduplication",
            "group",
            "grouping",
            "lookup",
            "hash",
            "index",
            "row",
            "range",
            "shard",
            "object",
            "unique",
            "composite",
            "dict",
            "map",
            "json",
            "config",
            "setting",
            "settings",
            "translation",
            "i18n",
            "label",
            "tag",
            "metric",
            "feature",
            "cursor",
            "join",
            "column",
            "field",
            "node",
            "entry",
            "item",
            "message",
            "event",
            "state",
            "context",
            "prompt",
            "input",
            "output",
            "memory",
            "answer",
            "question",
            "response",
            "result",
            "return",
            "text",
            "document",
            "doc",
            "content",
            "hot",
            "keyboard",
            "public",
            "pub",
            "verify",
            "verifying",
            "file",
            "s3",
            "redis",
            "storage",
            "ordering",
            "order",
            "template",
            "variable",
            "var",
            "env",
            "name",
            "dataset",
            "split",
            "image",
            "media",
        }
    ),
    "token": frozenset(
        {
            "eos",
            "bos",
            "pad",
            "unk",
            "sep",
            "cls",
            "mask",
            "stop",
            "start",
            "end",
            "special",
            "bad",
            "next",
            "first",
            "last",
            "output",
            "input",
            "generated",
            "max",
            "num",
            "image",
            "vision",
            "audio",
            "text",
            "sample",
            "sampled",
            "top",
            "chosen",
            "rejected",
            "predicted",
            "target",
            "decoder",
            "encoder",
            "added",
            "prompt",
            "completion",
            "reasoning",
            "cached",
            "thinking",
            "placeholder",
            "eot",
            "eom",
            "user",
            "assistant",
            "system",
            "tool",
            "default",
        }
    ),
    "pass": frozenset(
        {
            "first",
            "second",
            "third",
            "last",
            "final",
            "single",
            "multi",
            "one",
            "two",
            "num",
            "forward",
            "backward",
            "test",
            "tests",
            "did",
            "is",
            "has",
            "should",
            "can",
            "must",
            "eval",
            "check",
            "at",
            "by",
            "no",
            "each",
            "every",
            "fail",
        }
    ),
}
_MODIFIERS["keys"] = _MODIFIERS["key"]
#: Whole names (normalised, words joined by ``_``) that are never secrets.
ALLOWED_NAMES = frozenset({"keys", "tokens", "token_type", "pass_at_k", "pass_k", "author"})
#: Two consecutive words that name a secret together.
_PAIRS = frozenset(
    {
        ("connection", "string"),
        ("connection", "str"),
        ("conn", "str"),
        ("conn", "string"),
        ("private", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("access", "key"),
        ("client", "secret"),
        ("session", "token"),
        ("session", "key"),
    }
)


def name_words(name: str) -> list[str]:
    """The lowercase words of a field name: camelCase split, separators dropped, digits apart
    (``"openAIKey2"`` gives ``["open", "ai", "key"]``; pure digits are left out)."""
    return [w for w in _SEPARATORS.split(_CAMEL.sub(" ", name).lower()) if w and not w.isdigit()]


#: :func:`name_class` of a name that is not a secret one.
PLAIN = 0
#: :func:`name_class` of a secret name: its value is redacted whatever it is.
SECRET = 1
#: :func:`name_class` of a name that is a secret one only for a credential-shaped value:
#: ``signature`` is an HMAC in a webhook and ``"question -> answer"`` in DSPy.
SHAPED = 2
_AMBIGUOUS = frozenset({"signature", "signatures", "sig"})
_CREDENTIAL_SHAPE = re.compile(r"[A-Za-z0-9+/=_.:~%-]{16,}")


def is_credential_shaped(value: object) -> bool:
    """Whether ``value`` looks like a credential: one run of 16 or more token characters (no
    spaces), as an HMAC, a hash or a key is written."""
    return isinstance(value, str) and _CREDENTIAL_SHAPE.fullmatch(value) is not None


@lru_cache(maxsize=8192)
def name_class(name: str) -> int:
    """:data:`PLAIN`, :data:`SECRET` or :data:`SHAPED`: what a field named ``name`` holds, by the
    rule of this module's docstring."""
    words = name_words(name)
    if not words or "_".join(words) in ALLOWED_NAMES:
        return PLAIN
    last = len(words) - 1
    found = PLAIN
    for i, word in enumerate(words):
        after = words[i + 1 :]
        pair = (words[i - 1], word) if i else (word,)
        hit = False
        if (
            word in _STRONG
            or pair in _PAIRS
            or (word.endswith(_STRONG_ENDINGS) and len(word) > 6 and not word.startswith("token"))
        ):
            hit = _DESCRIPTORS.isdisjoint(after)
        if not hit and word in _WEAK and not (i and words[i - 1] in _MODIFIERS.get(word, ())):
            hit = i == last or _TRAILING.issuperset(after) or (word == "key" and after == ["id"])
        if hit:
            if word not in _AMBIGUOUS:
                return SECRET
            found = SHAPED
    return found


def is_secret_name(name: str) -> bool:
    """Whether a field named ``name`` can hold a secret (:func:`name_class` is not PLAIN)."""
    return name_class(name) != PLAIN


# -- text ----------------------------------------------------------------------------------------

# Characters of a token (base64url, plus the dot of a JWT where it is allowed explicitly).
_T = r"[A-Za-z0-9_-]"
_ALNUM = r"[A-Za-z0-9]"
_NOT_AFTER = r"(?![A-Za-z0-9])"
# A run of token characters holding at least one digit: the random part of real keys always does
# over 20 characters (odds of none: under 3%), prose and identifiers seldom do.
_DIGITS = r"(?=[A-Za-z_-]*[0-9])"

#: The last three letters of the secret words an assignment's name can end with: the scanner
#: looks at a name only when it ends with one of them (the full rule, :func:`is_secret_name`,
#: decides then). Lowercase and uppercase are listed; camelCase names end in lowercase.
_NAME_TAILS = (
    "key",  # key, api_key, secret_key
    "eys",  # keys
    "pwd",
    "jwt",
    "dsn",
    "sig",
    "uth",  # auth, oauth
    "ass",  # pass, db_pass
    "ken",  # token
    "ret",  # secret
    "ets",  # secrets
    "rer",  # bearer
    "kie",  # cookie
    "ies",  # cookies
    "swd",  # passwd
    "ord",  # password
    "ase",  # passphrase
    "ure",  # signature
    "ial",  # credential
    "als",  # credentials
    "eds",  # creds
    "ion",  # authorization
    "ing",  # connection_string
)


def _name_lookbehind(separators: Iterable[str], anchor: str) -> str:
    """Lookbehinds for a name ending with one of :data:`_NAME_TAILS`, a separator (each of
    ``separators`` is a literal or a character class) and the anchor.

    ``re`` tries the alternatives of a lookbehind one by one, about 5 ns each: 60 tails cost a
    microsecond per anchor, and text has many colons. So a cheap lookbehind first checks each of
    the last three letters against the letters tails have there (most words fail it), and only
    then the tails themselves (one fixed width per separator: ``re`` requires it).
    """
    # Words of three letters are whole tails, also capitalised (AccountKey, X-Api-Key).
    words = ("key", "pwd", "jwt", "dsn", "sig")
    tails = [*_NAME_TAILS, *(t.upper() for t in _NAME_TAILS), *(w.title() for w in words)]
    letters = "".join("[" + "".join(sorted({t[i] for t in tails})) + "]" for i in range(3))
    alternatives = "|".join(tails)
    anchor = re.escape(anchor)
    return "|".join(
        f"(?<={letters}{sep}{anchor})(?<=(?:{alternatives}){sep}{anchor})" for sep in separators
    )


_SCHEMES = r"(?:Bearer|bearer|BEARER|Basic|basic|Token|token|Bot|Digest|Negotiate|NTLM|ApiKey)"

# Each anchor's pattern, written as it goes on after the anchor character (which the compiled
# pattern starts with). A group named ``KIND__N`` holds the secret part of that kind; the whole
# token starts N characters before the group (the prefix and anchor the lookbehind saw).
_ANCHORED: dict[str, str] = {
    # A token's random part follows its last "-" or "_": 16 token characters after the anchor
    # first (prose and code fail this at once), then which prefix stood before it.
    "-": "|".join(
        (
            r"(?P<private_key__1>----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"[\s\S]*?(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z))",
            r"(?=[A-Za-z0-9][A-Za-z0-9_-]{15})(?:"
            + "|".join(
                (
                    rf"(?<=\bsk-)(?P<anthropic_key__3>ant-{_T}{{20,}})",
                    rf"(?<=\b[sp]k-)(?P<langfuse_key__3>lf-{_T}{{16,}})",
                    rf"(?<=\bsk-)(?P<openai_key__3>(?:proj-|svcacct-|admin-|None-)?{_DIGITS}{_T}{{20,}})",
                    rf"(?<=\bxox[abposr]-)(?P<slack_token__5>(?:[0-9]+-)*{_DIGITS}[A-Za-z0-9-]{{10,}})",
                    r"(?<=\bxapp-)(?P<slack_token___5>[0-9]-[A-Za-z0-9-]{10,})",
                    rf"(?<=\bglpat-)(?P<gitlab_token__6>{_T}{{20,}})",
                    rf"(?<=\bxai-)(?P<xai_key__4>{_ALNUM}{{32,}})",
                    rf"(?<=\btvly-)(?P<tavily_key__5>(?:dev-|prod-)?{_ALNUM}{{20,}})",
                    rf"(?<=\bpplx-)(?P<perplexity_key__5>{_ALNUM}{{32,}})",
                    rf"(?<=\bpypi-)(?P<pypi_token__5>AgE{_T}{{32,}})",
                    rf"(?<=\bGOCSPX-)(?P<google_oauth_secret__7>{_T}{{20,}})",
                    r"(?<=\bkey-)(?P<mailgun_key__4>[0-9a-f]{32})" + _NOT_AFTER,
                )
            )
            + ")",
        )
    ),
    "_": r"(?=[A-Za-z0-9]{16})(?:"
    + "|".join(
        (
            rf"(?<=\bgh[pousr]_)(?P<github_token__4>{_ALNUM}{{30,}})",
            r"(?<=\bgithub_pat_)(?P<github_token___11>[A-Za-z0-9_]{22,})",
            rf"(?<=\bhf_)(?P<huggingface_token__3>{_ALNUM}{{30,}})",
            rf"(?<=\b[sr]k_live_|\b[sr]k_test_)(?P<stripe_key__8>{_ALNUM}{{16,}})",
            rf"(?<=\bwhsec_)(?P<stripe_webhook_secret__6>{_ALNUM}{{24,}})",
            rf"(?<=\bnpm_)(?P<npm_token__4>{_ALNUM}{{36,}})",
            rf"(?<=\bgsk_)(?P<groq_key__4>{_ALNUM}{{40,}})",
            rf"(?<=\br8_)(?P<replicate_token__3>{_ALNUM}{{30,}})",
            r"(?<=\blsv2_pt_|\blsv2_sk_)(?P<langsmith_key__8>[0-9a-f]{32}_[0-9a-f]{10})",
            rf"(?<=\bpcsk_[A-Za-z0-9]{{5}}_)(?P<pinecone_key__11>{_ALNUM}{{40,}})",
            rf"(?<=\bpcsk_[A-Za-z0-9]{{6}}_)(?P<pinecone_key___12>{_ALNUM}{{40,}})",
            r"(?<=\bshp(?:at|ss|ca|pa)_)(?P<shopify_token__6>[0-9a-fA-F]{32})",
            r"(?<=\bdop_v1_)(?P<digitalocean_token__7>[0-9a-f]{64})",
            rf"(?<=\blin_api_)(?P<linear_key__8>{_ALNUM}{{32,}})",
            rf"(?<=\bsecret_)(?P<notion_token__7>{_ALNUM}{{43}})" + _NOT_AFTER,
        )
    )
    + ")",
    "A": "|".join(
        (
            r"(?<![A-Za-z0-9_]A)(?P<aws_access_key_id__1>(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16})"
            + _NOT_AFTER,
            rf"(?<![A-Za-z0-9_-]A)(?P<google_api_key__1>Iza{_T}{{35}})",
        )
    ),
    "J": rf"(?<=\beyJ)(?P<jwt__3>{_T}{{4,}}\.eyJ{_T}{{4,}}\.[A-Za-z0-9_.-]*)",
    "B": rf"(?<![A-Za-z0-9_]B)(?:earer|EARER)\s+(?P<bearer_token__0>{_DIGITS}[A-Za-z0-9._~+/=-]{{8,}})",
    ":": "|".join(
        (
            # scheme://user:password@host: the password only (the last @ before the path).
            r"//(?<=[A-Za-z0-9]://)[^\s/?#@:\"'<>]*:(?P<url_password__0>[^\s/?#\"'<>]+)@",
            # Telegram bot tokens: digits:35 characters.
            rf"(?<=[0-9]:)(?<=[0-9]{{8}}:)(?P<telegram_bot_token__0>{_T}{{35}})" + _NOT_AFTER,
            # name: value, "name": "value" (headers, JSON, YAML): the name's ending is checked
            # here, the whole name and the value after (prose has colons: "Key: the idea").
            "(?:" + _name_lookbehind(("", "[\"']"), ":") + r")(?P<assign__0>)",
        )
    ),
    "=": "(?:" + _name_lookbehind(("", "[ \"']"), "=") + r")(?P<assign___0>)",
}

# An assignment's name, read backwards from its separator (letters, digits, ``_.-``).
#: The secret words a name inside text can end with (what the tails above stand for).
_NAME_ENDINGS = (
    "key",
    "keys",
    "pwd",
    "jwt",
    "dsn",
    "sig",
    "auth",
    "pass",
    "token",
    "creds",
    "secret",
    "secrets",
    "bearer",
    "cookie",
    "cookies",
    "passwd",
    "string",
    "password",
    "signature",
    "credential",
    "credentials",
    "passphrase",
    "authorization",
)
_NAME_CHARS = re.compile(r"[A-Za-z0-9_.\-]+")
_QUOTED_VALUE = {'"': re.compile(r'[^"\n]{1,4096}'), "'": re.compile(r"[^'\n]{1,4096}")}
_PLAIN_VALUE = re.compile(r"[^\s\"'&,;<>(){}\[\]]{1,4096}")
_SCHEME_VALUE = re.compile(_SCHEMES + r" +(?=\S)")
# Strings shorter than this hold no token; up to _ONE_SEARCH characters one search of all the
# patterns at once is cheaper than one pass per anchor.
_SHORT = 20
_ONE_SEARCH = 64
_BOT_ID = frozenset("0123456789:")
_SPACES = re.compile(r"[ \t]*")
# Not a value: empty, no letter or digit ("...", "***"), a variable ("$KEY", "${KEY}",
# "%(key)s", "{key}", "<your key>") or a marker already.
_PLACEHOLDER = re.compile(r"[^A-Za-z0-9]*\Z|[$%{<]|\[REDACTED")
_CREDENTIAL_LIKE = re.compile(r"(?=.{6})(?=.*[0-9_+/=.~-]|.+[A-Z])")


@cache
def _compiled(anchor: str) -> re.Pattern[str]:
    return re.compile(re.escape(anchor) + f"(?:{_ANCHORED[anchor]})")


@cache
def _combined() -> re.Pattern[str]:
    return re.compile("|".join(_compiled(anchor).pattern for anchor in _ANCHORED))


def _kind(group: str) -> tuple[str, int]:
    name, _, back = group.partition("__")
    return name.replace("_", "-"), int(back.lstrip("_"))


class SecretScanner:
    """Finds secrets inside text and replaces each by ``[REDACTED:kind]``.

    :param name_class: classifies the name of an assignment (``NAME=value``, ``NAME: value``)
        as :func:`name_class` does (the :class:`~llmlog.sanitize.Sanitizer` passes its own key
        rule). Only names ending like a built-in secret word are looked at inside text.
    :param extra_patterns: more regular expressions (``redact_patterns``); a match is replaced
        whole, or only its first group when the pattern has groups, by ``[REDACTED:pattern]``.
    :param builtin: look for the built-in shapes (``False``: only ``extra_patterns``).
    """

    def __init__(
        self,
        name_class: Callable[[str], int] = name_class,
        extra_patterns: Iterable[str] = (),
        *,
        builtin: bool = True,
    ) -> None:
        self._name_class = name_class
        self._passes = [(anchor, _compiled(anchor)) for anchor in _ANCHORED] if builtin else []
        self._kinds = {
            group: _kind(group) for _, regex in self._passes for group in regex.groupindex
        }
        self._extra = [re.compile(p) for p in extra_patterns]
        self._combined = _combined() if builtin else re.compile("(?!)")

    def redact(self, text: str) -> str:
        """``text`` with every secret found replaced; the same object when none was found."""
        spans: list[tuple[int, int, str]] | None = None
        size = len(text)
        matches: Iterable[re.Match[str]] = ()
        if not self._passes:
            pass
        elif size < _SHORT:
            # Under 20 characters no token fits: only an assignment, a URL password or a Bearer
            # token can be there, and each needs one of three characters.
            if ":" in text or "=" in text or "B" in text:
                matches = self._combined.finditer(text)
        elif size <= _ONE_SEARCH:
            matches = self._combined.finditer(text)  # one call: a class scan, ~10 ns a character
        else:
            # One pass per anchor present (a literal-prefix scan, ~0.4 ns a character).
            matches = itertools.chain.from_iterable(
                regex.finditer(text, text.find(anchor))
                for anchor, regex in self._passes
                if anchor in text
            )
        for match in matches:
            span = self._span(match, text)
            if span is not None:
                if spans is None:
                    spans = []
                spans.append(span)
        for pattern in self._extra:
            for match in pattern.finditer(text):
                start, end = match.span(1) if pattern.groups else match.span()
                if end > start:
                    if spans is None:
                        spans = []
                    spans.append((start, end, "pattern"))
        if spans is None:
            return text
        return _replace(text, spans)

    def _span(self, match: re.Match[str], text: str) -> tuple[int, int, str] | None:
        group = match.lastgroup
        if group is None:
            return None
        kind, back = self._kinds[group]
        if kind.startswith("assign"):
            return self._assignment(text, match.start())
        start, end = match.span(group)
        if back == 0 and kind == "telegram-bot-token":  # the bot's id and its colon go too
            while start > 0 and text[start - 1] in _BOT_ID:
                start -= 1
        return start - back, end, kind

    def _assignment(self, text: str, at: int) -> tuple[int, int, str] | None:
        """``NAME<sep>value`` with the separator at ``at``: the value's span when NAME is a secret
        name and the value is not empty (or already a redaction marker)."""
        name_end = at
        while name_end > 0 and text[name_end - 1] in "\"' ":
            name_end -= 1
        # The regex checked three letters; most names it lets through ("Question:") end with
        # no secret word: say so before reading the name.
        if not text[max(0, name_end - 13) : name_end].lower().endswith(_NAME_ENDINGS):
            return None
        # The name is the run of name characters before the separator: matched on the reversed
        # window (a backward search with \Z tries every start: 80 squared steps).
        found = _NAME_CHARS.match(text[max(0, name_end - 80) : name_end][::-1])
        if found is None:
            return None
        name = found.group()[::-1].strip(".-")
        shape = self._name_class(name)
        if shape == PLAIN:
            return None
        pos = _SPACES.match(text, at + 1).end()  # type: ignore[union-attr]
        quote = text[pos : pos + 1]
        if quote in _QUOTED_VALUE:
            value = _QUOTED_VALUE[quote].match(text, pos + 1)
        else:
            scheme = _SCHEME_VALUE.match(text, pos)
            if scheme is not None:  # Authorization: Bearer <token>: the scheme stays
                pos = scheme.end()
            value = _PLAIN_VALUE.match(text, pos)
            # "Key: the main idea" is prose and sorted(key=lambda ...) code: after a colon, or
            # after a lone word like "key", an unquoted value must look like a credential (a
            # digit, a symbol or an inner capital, and 6 characters at least).
            if (
                value is not None
                and (text[at] == ":" or name.lower() in _WEAK)
                and not _CREDENTIAL_LIKE.match(value.group())
            ):
                return None
        if value is None or _PLACEHOLDER.match(value.group()):
            return None
        if shape == SHAPED and not is_credential_shaped(value.group()):
            return None
        start, end = value.span()
        return start, end, "secret"


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    # At one start, a named shape wins over an assignment's "secret", then the longer span.
    spans.sort(key=lambda span: (span[0], span[2] == "secret", -span[1]))
    parts: list[str] = []
    done = 0
    for start, end, kind in spans:
        if start < done:  # overlaps the span just replaced: that marker covers it
            done = max(done, end)
            continue
        parts.append(text[done:start])
        parts.append(f"[REDACTED:{kind}]")
        done = end
    parts.append(text[done:])
    return "".join(parts)
