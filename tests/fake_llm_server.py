"""A scripted OpenAI-compatible chat completions server on 127.0.0.1, for end-to-end tests.

Judges are scripted by rules (model, text found in the output under test or the criteria), faults are
injected per model (HTTP status with Retry-After, delay, unparseable content, and the transport faults
in `FAULT_KINDS`: a connection reset, a body cut off mid-way, a non-JSON body, an empty `choices`, a
request never answered), and every request is logged so tests can count calls and inspect prompts.
Usage token counts are real numbers: by default the whitespace-separated words of the prompt and of
the reply, or fixed per rule. A logged request has tokens only if the client got a whole reply with a
`usage` block: `paid_tokens()` is what a provider would have billed.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_OUTPUT = re.compile(r"<output>\n(.*)\n</output>", re.DOTALL)
_CRITERIA = re.compile(r"<criteria>\n(.*?)\n</criteria>", re.DOTALL)
_RUBRIC = re.compile(r"<rubric>\n(.*?)\n</rubric>", re.DOTALL)
_FIRST = re.compile(r"<output_1>\n(.*?)\n</output_1>", re.DOTALL)
_SECOND = re.compile(r"<output_2>\n(.*?)\n</output_2>", re.DOTALL)

# Faults beyond an HTTP status (`inject(kind=...)`):
#   reset           the connection is reset (TCP RST) without an answer
#   close_mid_body  a 200 with the full Content-Length, half the body, then the connection is closed
#   non_json        a 200 whose body is an HTML error page, not JSON
#   empty_choices   a 200 JSON completion with `"choices": []` (usage included: it is billed)
#   hang            no answer at all until the server is reset or stopped (then the connection closes)
FAULT_KINDS = ("reset", "close_mid_body", "non_json", "empty_choices", "hang")
# The status logged for a request that got no HTTP status line (reset, hang).
NO_RESPONSE = 0
# The longest a `hang` fault holds a request when nobody resets the server.
HANG_MAX_S = 600.0
# A hold for concurrency (hold_until_in_flight) gives up after this long: the test then fails on its count.
HOLD_MAX_S = 60.0
_NON_JSON_BODY = b"<html><body><h1>502 Bad Gateway</h1>upstream hiccup</body></html>"


@dataclass
class PairRule:
    """How a judge answers pairwise calls: prefer the output containing `text`, or a fixed position."""

    model: str | None
    prefers: str | None = None
    position: str | None = None  # "1", "2" or "tie": the answer whatever the outputs

    def answer(self, first: str, second: str) -> str:
        if self.position is not None:
            return self.position
        assert self.prefers is not None
        in_first, in_second = self.prefers in first, self.prefers in second
        return "1" if in_first and not in_second else "2" if in_second and not in_first else "tie"


@dataclass
class Rule:
    vote: str
    reason: str
    model: str | None = None
    output_contains: str | None = None
    criteria_contains: str | None = None
    content: str | None = None  # raw reply content, overrides vote/reason
    usage: tuple[int, int] | None = None
    score: int | None = None  # a rule for scores (jury.score): the score it answers
    seed: int | None = None  # only requests sent with this seed (--jury-samples)

    def matches(self, model: str, output: str, criteria: str, seed: int | None = None) -> bool:
        return (
            (self.model is None or self.model == model)
            and (self.seed is None or self.seed == seed)
            and (self.output_contains is None or self.output_contains in output)
            and (self.criteria_contains is None or self.criteria_contains in criteria)
        )


@dataclass
class Fault:
    model: str | None
    status: int | None = None
    retry_after: str | None = None
    delay_s: float = 0.0
    content: str | None = None
    remaining: int = 1
    criteria_contains: str | None = None
    kind: str | None = None  # one of FAULT_KINDS


@dataclass
class LoggedRequest:
    path: str
    model: str
    body: dict[str, Any]
    output: str
    criteria: str
    status: int
    at: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    pair: tuple[str, str] | None = None  # a pairwise call: (output 1, output 2) as shown
    fault: str | None = None  # the injected fault's kind, or "status"/"content", or None
    content: str | None = None  # the reply content sent, for a complete reply
    seed: int | None = None  # the seed the request was sent with (--jury-samples)
    scoring: bool = False  # a score's request (its rubric is `criteria`)

    @property
    def paid(self) -> bool:
        """Whether the client received a whole completion with a `usage` block (a billed call)."""
        return self.status == 200 and self.fault not in ("reset", "close_mid_body", "non_json", "hang")


class _Server(ThreadingHTTPServer):
    # The default listen queue of 5 drops connection bursts from large juries (retried after 1 s).
    request_queue_size = 128


def _words(text: str) -> int:
    return len(text.split())


class FakeLLMServer:
    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.pair_rules: list[PairRule] = []
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.default_vote = "pass"
        self.default_score = 5
        # How usage is counted: whitespace-separated words by default; `count_tokens_like_openai`
        # counts with a real BPE tokenizer and OpenAI's chat overhead, as a provider bills.
        self.tokenizer: Callable[[str], int] | None = None
        # A litellm proxy reports each reply's cost, by the model behind the alias, in this header.
        self.reported_cost: float | None = None
        self.latency_s = 0.0
        # Concurrency is observed by counting, not timing: the most requests in flight at once, and
        # optionally a hold that keeps each request until that many are in flight (or HOLD_MAX_S).
        self.peak_in_flight = 0
        self.hold_until_in_flight: int | None = None
        # Per-model gates (hold_replies): a reply waits until the test opens its gate.
        self._gates: dict[str, threading.Event] = {}
        self._gate_after: dict[str, int] = {}
        self._in_flight = 0
        self._generation = 0  # bumped by reset(): requests from before it are not counted in flight
        self._held_reached = False
        self._flight = threading.Condition()
        self._lock = threading.Lock()
        self._release_hangs = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release_hangs.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- scripting ------------------------------------------------------------------------
    def prefer(self, text: str, *, model: str | None = None) -> None:
        """Pairwise calls: `model` (every judge when None) prefers the output that contains `text`."""
        with self._lock:
            self.pair_rules.append(PairRule(model, prefers=text))

    def pick_position(self, position: str, *, model: str | None = None) -> None:
        """Pairwise calls: `model` answers `position` ("1", "2" or "tie") whatever it is shown."""
        with self._lock:
            self.pair_rules.append(PairRule(model, position=position))

    def pair_calls(self, model: str | None = None) -> list[LoggedRequest]:
        return [call for call in self.calls(model) if call.pair is not None]

    def judge(
        self,
        vote: str,
        reason: str = "scripted",
        *,
        model: str | None = None,
        output_contains: str | None = None,
        criteria_contains: str | None = None,
        content: str | None = None,
        usage: tuple[int, int] | None = None,
        seed: int | None = None,
    ) -> None:
        """Add a rule; the most recently added matching rule decides a reply."""
        with self._lock:
            self.rules.append(
                Rule(vote, reason, model, output_contains, criteria_contains, content, usage, seed=seed)
            )

    def score(
        self,
        score: int,
        reason: str = "scripted score",
        *,
        model: str | None = None,
        output_contains: str | None = None,
        rubric_contains: str | None = None,
        content: str | None = None,
        seed: int | None = None,
    ) -> None:
        """A rule for scores: matching score requests are answered `score` (or `content`, raw)."""
        with self._lock:
            self.rules.append(
                Rule(
                    "score", reason, model, output_contains, rubric_contains, content, score=score, seed=seed
                )
            )

    def inject(
        self,
        *,
        model: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
        delay_s: float = 0.0,
        content: str | None = None,
        times: int = 1,
        criteria_contains: str | None = None,
        kind: str | None = None,
    ) -> None:
        """Queue a fault for the next `times` requests to `model` (any model when None).

        `kind` is one of FAULT_KINDS, instead of a `status` or `content`.
        """
        if kind is not None and kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self.faults.append(
                Fault(model, status, retry_after, delay_s, content, times, criteria_contains, kind)
            )

    def hold_replies(self, model: str, *, after: int = 0) -> threading.Event:
        """Hold every reply to `model` (after its first `after` requests) until the returned event is
        set (or HOLD_MAX_S has passed).

        A test opens the gate from the code whose progress it wants to prove, so "it ran while the judge
        was answering" is an order of events, never a measured time.
        """
        with self._lock:
            gate = self._gates.setdefault(model, threading.Event())
            self._gate_after[model] = after
            return gate

    def calls(self, model: str | None = None, status: int | None = 200) -> list[LoggedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (model is None or r.model == model) and (status is None or r.status == status)
            ]

    def paid_tokens(self, model: str | None = None) -> tuple[int, int]:
        """(prompt, completion) tokens of every billed reply: what a provider would charge for."""
        with self._lock:
            paid = [r for r in self.requests if r.paid and (model is None or r.model == model)]
        return sum(r.prompt_tokens for r in paid), sum(r.completion_tokens for r in paid)

    def reset(self) -> None:
        # Requests held by a `hang` fault are let go (their connections close without an answer).
        self._release_hangs.set()
        self._release_hangs = threading.Event()
        with self._lock:
            self.rules.clear()
            self.pair_rules.clear()
            self.faults.clear()
            self.requests.clear()
            self.default_vote = "pass"
            self.default_score = 5
            self.tokenizer = None
            self.reported_cost = None
            self.latency_s = 0.0
            gates, self._gates = list(self._gates.values()), {}
            self._gate_after = {}
        for gate in gates:  # a reply still held is let go
            gate.set()
        with self._flight:
            # A slow request of the previous test may still be sleeping: it no longer counts.
            self._generation += 1
            self._in_flight = 0
            self.peak_in_flight = 0
            self.hold_until_in_flight = None
            self._held_reached = False
            self._flight.notify_all()

    # -- serving ----------------------------------------------------------------------------
    def _take_fault(self, model: str, criteria: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.remaining > 0
                    and (fault.model is None or fault.model == model)
                    and (fault.criteria_contains is None or fault.criteria_contains in criteria)
                ):
                    fault.remaining -= 1
                    return fault
        return None

    def count_tokens_like_openai(self) -> None:
        """Count usage as OpenAI bills chat completions: tiktoken's o200k_base, plus 3 tokens per
        message and 3 for the reply's priming."""
        # litellm's bundled tokenizer files: tiktoken would otherwise download them (no network here).
        import litellm.litellm_core_utils.default_encoding  # noqa: F401  (sets TIKTOKEN_CACHE_DIR)
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
        self.tokenizer = lambda text: len(encoding.encode(text))

    def _usage(self, body: dict[str, Any], prompt: str, content: str) -> tuple[int, int]:
        tokenizer = self.tokenizer
        if tokenizer is None:
            return _words(prompt), _words(content)
        messages = body.get("messages", [])
        prompt_tokens = 3 + sum(3 + tokenizer(str(message.get("content", ""))) for message in messages)
        return prompt_tokens, tokenizer(content)

    def _rule(self, model: str, output: str, criteria: str, seed: int | None, scoring: bool) -> Rule:
        with self._lock:
            for rule in reversed(self.rules):
                if (rule.score is not None) == scoring and rule.matches(model, output, criteria, seed):
                    return rule
            if scoring:
                return Rule("score", f"default score {self.default_score}", score=self.default_score)
            return Rule(self.default_vote, f"default {self.default_vote}")

    def _pair_answer(self, model: str, first: str, second: str) -> str:
        with self._lock:
            for rule in reversed(self.pair_rules):
                if rule.model is None or rule.model == model:
                    return rule.answer(first, second)
        return "tie"

    def respond(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        model = str(body.get("model", ""))
        # The question is the last user message; earlier turns are worked examples (jury_examples).
        users = [str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"]
        user = users[-1] if users else ""
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        rubric = _RUBRIC.search(user)
        out_match, crit_match = _OUTPUT.search(user), rubric or _CRITERIA.search(user)
        seed = body.get("seed")
        output = out_match.group(1) if out_match else ""
        criteria = crit_match.group(1) if crit_match else ""
        first, second = _FIRST.search(user), _SECOND.search(user)
        pair = (first.group(1), second.group(1)) if first and second else None
        fault = self._take_fault(model, criteria)
        # Logged on arrival, so `at` is when the request came in and a slow reply that outlives a
        # test's reset() is not logged into the next test.
        entry = LoggedRequest(
            path, model, body, output, criteria, 200, time.time(), headers=headers, pair=pair, seed=seed,
            scoring=rubric is not None,
        )  # fmt: skip
        kind = fault.kind if fault is not None else None
        entry.fault = kind or (
            "status"
            if fault is not None and fault.status is not None
            else "content"
            if fault is not None and fault.content is not None
            else None
        )
        if kind in ("reset", "hang"):
            entry.status = NO_RESPONSE
        with self._lock:
            self.requests.append(entry)
        with self._flight:
            generation = self._generation
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._flight.notify_all()
            wanted = self.hold_until_in_flight
            if wanted is not None:
                # A latch, not a level: the first request let go may finish before the others wake.
                self._held_reached = self._held_reached or self._in_flight >= wanted
                self._flight.wait_for(lambda: self._held_reached, timeout=HOLD_MAX_S)
        with self._lock:
            gate = self._gates.get(model)
            earlier = sum(1 for request in self.requests if request.model == model) - 1
            if earlier < self._gate_after.get(model, 0):
                gate = None
        if gate is not None:
            gate.wait(HOLD_MAX_S)
        delay = self.latency_s + (fault.delay_s if fault else 0.0)
        if delay:
            time.sleep(delay)
        with self._flight:
            if generation == self._generation:
                self._in_flight -= 1
        if kind == "hang":
            self._release_hangs.wait(HANG_MAX_S)
            return NO_RESPONSE, {"x-fault": "hang"}, b""
        if kind == "reset":
            return NO_RESPONSE, {"x-fault": "reset"}, b""
        if kind == "non_json":
            return 200, {"Content-Type": "text/html", "x-fault": "non_json"}, _NON_JSON_BODY
        if fault is not None and fault.status is not None:
            entry.status = fault.status
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            error = {
                # `content` with a status: the error's message (a proxy's own words, say).
                "error": {
                    "message": fault.content or f"injected HTTP {fault.status}",
                    "type": "fake",
                    "code": fault.status,
                }
            }
            return fault.status, extra, json.dumps(error).encode()
        rule = self._rule(model, output, criteria, seed, rubric is not None)
        if fault is not None and fault.content is not None:
            content = fault.content
        elif pair is not None:
            content = json.dumps({"winner": self._pair_answer(model, *pair), "reason": "scripted comparison"})
        elif rule.content is not None:
            content = rule.content
        elif rule.score is not None:
            content = json.dumps({"reason": rule.reason, "score": rule.score})
        else:
            content = json.dumps({"vote": rule.vote, "reason": rule.reason})
        prompt_tokens, completion_tokens = rule.usage or self._usage(body, prompt, content)
        choices = [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ]
        if kind == "empty_choices":
            choices, content = [], ""
        if kind != "close_mid_body":  # a cut-off reply never reaches the client: nothing billed
            entry.prompt_tokens, entry.completion_tokens = prompt_tokens, completion_tokens
            entry.content = content
        reply = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        extra = {"x-fault": "close_mid_body"} if kind == "close_mid_body" else {}
        if self.reported_cost is not None:
            extra["x-litellm-response-cost"] = repr(self.reported_cost)
        return 200, extra, json.dumps(reply).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, a kept-alive connection then
            # waits ~40 ms for a delayed ACK on every reply.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                headers = {k.lower(): v for k, v in self.headers.items()}
                extra: dict[str, str] = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    status, payload = 404, b'{"error": {"message": "not found"}}'
                else:
                    status, extra, payload = server.respond(self.path, body, headers)
                fault = extra.pop("x-fault", None)
                if fault in ("reset", "hang"):
                    self._drop(reset=fault == "reset")
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if fault == "close_mid_body":
                        self.wfile.write(payload[: len(payload) // 2])
                        self.wfile.flush()
                        self._drop(reset=False)
                        return
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def _drop(self, *, reset: bool) -> None:
                """Close the connection now: with a TCP RST when `reset`, else an orderly FIN."""
                self.close_connection = True
                try:
                    if reset:
                        # Linger on, timeout 0: close() sends RST instead of FIN.
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    else:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    self.rfile.close()  # the last reference: the socket really closes here
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@contextmanager
def running_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer().start()
    try:
        yield server
    finally:
        server.stop()
