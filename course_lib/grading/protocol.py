"""What a kernel may say to the grader, in which order and how much: checked line by line.

The kernel runs the student's code, which can write anything to the channel: forged
events, numbers JSON cannot hold in a float, a million answers, one endless line. The
grader therefore accepts only this conversation, one JSON object per line of at most
:data:`MAX_MESSAGE_BYTES`::

    ("cell", n) ["cell_error", n]   for each cell sent, in order
    ("ready", student_id)           after the "cell" event of the last cell
    ("question", name) ("answer", name, results)   for each question asked, in order
    ("done",)

Anything else (an answer before "ready", a cell number of 1e999, a repeated answer, an
integer beyond 64 bits, a line longer than the limit) raises :class:`ProtocolError`, which
the runner turns into a failure of the cell or question that was running. The number of
messages is thereby at most two per cell and per question plus two, and the grader keeps
at most one raw answer line per question: its memory does not grow with what the kernel
sends.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

#: Largest answer to one question (all its hidden cases) as JSON; the kernel refuses to send
#: more (the course's largest answer is about 7 kB).
MAX_ANSWER_BYTES = 256 * 2**10
#: Longest line the kernel may send.
MAX_MESSAGE_BYTES = 2 * MAX_ANSWER_BYTES
#: Longest STUDENT_ID kept; a longer one is cut, and the record says so.
MAX_ID_CHARS = 200
MAX_ERROR_CHARS = 500
INT64 = 2**63


class ProtocolError(ValueError):
    """The kernel broke the conversation; the message says how."""


def _strict_int(text: str) -> int:
    value = int(text)
    if not -INT64 <= value < INT64:
        raise ProtocolError(f"an integer of {len(text)} digits, beyond 64 bits")
    return value


def _strict_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ProtocolError(f"the number {text[:20]} overflows a float")
    return value


_DECODER = json.JSONDecoder(parse_int=_strict_int, parse_float=_strict_float)


def loads(line: bytes | str):
    """Parse one line strictly: NaN and Infinity are allowed, out-of-range numbers are not."""
    try:
        return _DECODER.decode(line.decode("utf-8") if isinstance(line, bytes) else line)
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise ProtocolError(f"not a JSON line ({type(error).__name__})") from None


def _int(message: dict, key: str) -> int:
    value = message.get(key)
    if type(value) is not int:
        raise ProtocolError(f"{key} is not an integer")
    return value


def _text(message: dict, key: str, limit: int | None = None) -> str:
    value = message.get(key)
    if type(value) is not str:
        raise ProtocolError(f"{key} is not a string")
    return value if limit is None or len(value) <= limit else value[: limit - 3] + "..."


@dataclass
class Conversation:
    """The grader's record of one kernel run; :meth:`receive` applies one line.

    ``cells`` are the numbers of the cells sent, in order; :meth:`ask` is called with the
    names of the questions once the grader has sent them.
    """

    cells: list
    phase: str = "cells"
    cell: int | None = None
    ran: int = 0
    ready_cell: int | None = None
    question: str | None = None
    questions: list = field(default_factory=list)
    student_id: str | None = None
    id_length: int = 0
    cell_errors: dict = field(default_factory=dict)
    answers: dict = field(default_factory=dict)

    def ask(self, names: list[str]) -> None:
        self.questions = list(names)

    def blame(self) -> tuple[int | None, str | None]:
        """(cell, question) that was running: what a failure now is charged to."""
        if self.question is not None:
            return None, self.question
        if self.phase == "cells":
            return self.cell, None
        if self.phase == "questions" and not self.answers:
            return self.ready_cell, None  # e.g. answers forged by the last cell
        return None, None

    def receive(self, line: bytes) -> str:
        """Apply one line; return its event name; raise ProtocolError if it is out of place."""
        if len(line) > MAX_MESSAGE_BYTES:
            raise ProtocolError(f"a message longer than {MAX_MESSAGE_BYTES // 1024} kB")
        message = loads(line)
        if not isinstance(message, dict):
            raise ProtocolError("a message that is not a JSON object")
        event = message.get("event")
        handler = {"cell": self._cell, "cell_error": self._cell_error, "ready": self._ready,
                   "question": self._question, "answer": self._answer,
                   "done": self._done}.get(event if isinstance(event, str) else "")
        if handler is None:
            raise ProtocolError("an unknown event")
        handler(message, line)
        return event

    def _expect(self, phase: str, event: str) -> None:
        if self.phase != phase:
            raise ProtocolError(f"{event!r} out of order (during {self.phase})")

    def _cell(self, message, line):
        self._expect("cells", "cell")
        number = _int(message, "number")
        if self.ran >= len(self.cells) or self.cells[self.ran] != number:
            raise ProtocolError(f"'cell' for cell {number} out of order")
        self.cell, self.ran = number, self.ran + 1

    def _cell_error(self, message, line):
        self._expect("cells", "cell_error")
        number = _int(message, "number")
        if number != self.cell or number in self.cell_errors:
            raise ProtocolError(f"'cell_error' for cell {number} out of order")
        self.cell_errors[number] = _text(message, "error", MAX_ERROR_CHARS)

    def _ready(self, message, line):
        self._expect("cells", "ready")
        if self.ran != len(self.cells):
            raise ProtocolError("'ready' before the last cell ran")
        student_id = message.get("student_id")
        if student_id is not None:
            student_id = _text(message, "student_id")
            self.id_length = len(student_id)
            student_id = student_id[:MAX_ID_CHARS]
        self.student_id, self.ready_cell, self.cell, self.phase = student_id, self.cell, None, "questions"

    def _question(self, message, line):
        self._expect("questions", "question")
        name = _text(message, "name")
        done = len(self.answers)
        if self.question is not None or done >= len(self.questions) or self.questions[done] != name:
            raise ProtocolError(f"'question' {name[:40]!r} out of order")
        self.question = name

    def _answer(self, message, line):
        self._expect("questions", "answer")
        name = _text(message, "name")
        if name != self.question:
            raise ProtocolError(f"'answer' to {name[:40]!r} out of order")
        if not isinstance(message.get("results"), list):
            raise ProtocolError("'answer' without a list of results")
        self.answers[name] = bytes(line)  # parsed again, one at a time, when scored
        self.question = None

    def _done(self, message, line):
        self._expect("questions", "done")
        if self.question is not None or len(self.answers) != len(self.questions):
            raise ProtocolError("'done' before every question was answered")
        self.phase = "done"


def results_of(line: bytes) -> list:
    """The results list of an answer line that :meth:`Conversation.receive` accepted."""
    return loads(line)["results"]
