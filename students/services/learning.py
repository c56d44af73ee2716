"""Writes for learning data: events from the learning platform (signed endpoint or CSV) and the
enrollment progress recomputed from them.

Both entry points share the same steps: ``learning_events_parse`` (JSON) or
``learning_event_rows_parse`` (CSV) turn raw input into ``LearningEventInput``s, then
``learning_events_record`` checks them against the database and stores them in one transaction.
Every step collects all problems with their field paths before raising ``LearningDataError``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Max, Q, Sum
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from simple_history.utils import bulk_update_with_history

from orders.models import Course, CourseType, Order

from ..models import Enrollment, LearningEvent, LearningEventKind, Student
from ..signing import LEARNING_PLATFORM
from .ingestion import (
    FieldError,
    IngestionDataError,
    IngestionReplayError,
    RawReader,
    chunked,
    ingestion_nonce_store,
)

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 1000
MAX_EVENT_ID_LENGTH = 64
MAX_EVENT_SECONDS = 24 * 3600
# The columns of the CSV import, in the order of the JSON fields.
EVENT_FIELDS = (
    "event_id",
    "type",
    "student_no",
    "order_no",
    "lesson_no",
    "seconds",
    "completed",
    "rating",
    "score",
    "occurred_at",
)
REQUIRED_EVENT_FIELDS = ("event_id", "type", "student_no", "order_no", "occurred_at")
PROGRESS_FIELDS = (
    "lessons_consumed",
    "lessons_watched",
    "watch_progress",
    "study_seconds",
    "live_sessions_attended",
    "replays_watched",
    "homework_submitted",
    "rating",
    "tests_taken",
    "test_score_avg",
    "last_learning_at",
)
COLLECTION = "events"  # errors name fields as events[3].order_no
_KINDS = ", ".join(LearningEventKind.values)
_NO_LESSON_KINDS = (None, LearningEventKind.RATING, LearningEventKind.TEST_SCORED)


class LearningDataError(IngestionDataError):
    """The events cannot be stored; ``errors`` names every offending field."""


# The nonce is shared by every signed intake; the learning side's name for its replay.
LearningReplayError = IngestionReplayError


class LearningConflictError(Exception):
    """A concurrent batch stored one of these event ids first; nothing of this batch was stored.

    Sending the same batch again is safe: the events already stored count as duplicates.
    """


@dataclass(frozen=True)
class LearningEventInput:
    """One validated event, not yet checked against the database."""

    event_id: str
    kind: str
    student_no: str
    order_no: str
    lesson_no: int | None
    seconds: int
    completed: bool
    rating: int | None
    occurred_at: datetime.datetime
    score: Decimal | None = None


@dataclass(frozen=True)
class RecordResult:
    accepted: int
    duplicates: int
    enrollments_updated: int = 0


# --- Parsing: raw JSON or CSV values into LearningEventInput, no database access.


def _event_parse(
    raw: Any, *, index: int, textual: bool, now: datetime.datetime
) -> tuple[LearningEventInput | None, list[FieldError]]:
    if not isinstance(raw, Mapping):
        return None, [FieldError(index, "", _("Must be an object."), COLLECTION)]
    reader = RawReader(raw, index=index, textual=textual, collection=COLLECTION)
    event_id = reader.string("event_id", max_length=MAX_EVENT_ID_LENGTH)
    kind = reader.value("type")
    if kind is None:
        reader.error("type", _("This field is required."))
    elif kind not in LearningEventKind.values:
        reader.error("type", format_lazy(_("Must be one of {kinds}."), kinds=_KINDS))
        kind = None
    student_no = reader.string("student_no")
    order_no = reader.string("order_no")
    lesson_no = reader.integer("lesson_no", minimum=1)
    # A test may name the lesson it belongs to; a rating is of the whole course.
    if lesson_no is None and kind not in _NO_LESSON_KINDS and reader.value("lesson_no") is None:
        reader.error("lesson_no", _("This field is required."))
    seconds = reader.integer("seconds", minimum=0, maximum=MAX_EVENT_SECONDS)
    completed = reader.boolean("completed", default=True)
    rating: int | None = None
    if kind not in (None, LearningEventKind.RATING) and reader.value("rating") is not None:
        reader.error("rating", _("Only allowed for events of type rating."))
    else:
        rating = reader.integer("rating", minimum=1, maximum=5)
        if kind == LearningEventKind.RATING and rating is None and reader.value("rating") is None:
            reader.error("rating", _("This field is required."))
    score: Decimal | None = None
    if kind not in (None, LearningEventKind.TEST_SCORED) and reader.value("score") is not None:
        reader.error("score", _("Only allowed for events of type test_scored."))
    else:
        score = reader.score("score")
        if kind == LearningEventKind.TEST_SCORED and score is None and reader.value("score") is None:
            reader.error("score", _("This field is required."))
    occurred_at = reader.moment("occurred_at", now=now)
    if (
        reader.errors
        or event_id is None
        or kind is None
        or student_no is None
        or order_no is None
        or occurred_at is None
    ):
        return None, reader.errors
    event = LearningEventInput(
        event_id=event_id,
        kind=kind,
        student_no=student_no,
        order_no=order_no,
        lesson_no=lesson_no,
        seconds=seconds or 0,
        completed=completed,
        rating=rating,
        occurred_at=occurred_at,
        score=score,
    )
    return event, []


def _events_parse(raws: Iterable[Any], *, textual: bool) -> list[LearningEventInput]:
    now = timezone.now()
    events: list[LearningEventInput] = []
    errors: list[FieldError] = []
    for index, raw in enumerate(raws):
        event, event_errors = _event_parse(raw, index=index, textual=textual, now=now)
        errors.extend(event_errors)
        if event is not None:
            events.append(event)
    if errors:
        raise LearningDataError(errors)
    return events


def learning_events_parse(payload: Any, *, max_events: int = MAX_EVENTS_PER_REQUEST) -> list[LearningEventInput]:
    """The events of a decoded JSON body ``{"events": [...]}``; raises ``LearningDataError``."""
    if not isinstance(payload, Mapping):
        raise LearningDataError(
            [FieldError(None, "events", _('The body must be an object with an "events" list.'), COLLECTION)]
        )
    raws = payload.get("events")
    if not isinstance(raws, list):
        raise LearningDataError([FieldError(None, "events", _("Must be a list of events."), COLLECTION)])
    if len(raws) > max_events:
        message = format_lazy(_("At most {max_events} events per request."), max_events=max_events)
        raise LearningDataError([FieldError(None, "events", message, COLLECTION)])
    return _events_parse(raws, textual=False)


def learning_event_rows_parse(rows: Iterable[Mapping[str, str | None]]) -> list[LearningEventInput]:
    """The events of CSV rows keyed by ``EVENT_FIELDS``; an error's ``index`` is the row's position."""
    return _events_parse(rows, textual=True)


# --- Recording: check against the database, store, recompute the touched enrollments.


def _stored_event_ids(event_ids: Iterable[str]) -> set[str]:
    stored: set[str] = set()
    for chunk in chunked(sorted(set(event_ids))):
        stored.update(LearningEvent.objects.filter(event_id__in=chunk).values_list("event_id", flat=True))
    return stored


def learning_events_validate(*, events: Sequence[LearningEventInput]) -> list[Enrollment]:
    """The enrollment each event belongs to, in order; raises ``LearningDataError`` naming every bad field.

    The order must be the student's own: an order of another student is reported as not found.
    """
    student_ids: dict[str, int] = {}
    for chunk in chunked({event.student_no for event in events}):
        student_ids.update(Student.objects.filter(student_no__in=chunk).values_list("student_no", "pk"))
    orders: dict[str, Order] = {}
    for chunk in chunked({event.order_no for event in events}):
        orders.update(
            (order.order_no, order)
            for order in Order.objects.filter(order_no__in=chunk).select_related("course", "enrollment")
        )

    enrollments: list[Enrollment] = []
    errors: list[FieldError] = []
    for index, event in enumerate(events):
        student_id = student_ids.get(event.student_no)
        if student_id is None:
            errors.append(
                FieldError(
                    index,
                    "student_no",
                    format_lazy(_("No student {student_no}."), student_no=event.student_no),
                    COLLECTION,
                )
            )
            continue
        order = orders.get(event.order_no)
        if order is None or order.student_id != student_id:
            message = format_lazy(
                _("No order {order_no} for student {student_no}."), order_no=event.order_no, student_no=event.student_no
            )
            errors.append(FieldError(index, "order_no", message, COLLECTION))
            continue
        try:
            enrollment = order.enrollment
        except Enrollment.DoesNotExist:
            message = format_lazy(_("Order {order_no} has no enrollment."), order_no=event.order_no)
            errors.append(FieldError(index, "order_no", message, COLLECTION))
            continue
        if event.lesson_no is not None and event.lesson_no > order.course.lessons:
            message = format_lazy(
                _("Lesson {lesson_no} is beyond the {lessons} lessons of the course."),
                lesson_no=event.lesson_no,
                lessons=order.course.lessons,
            )
            errors.append(FieldError(index, "lesson_no", message, COLLECTION))
            continue
        enrollments.append(enrollment)
    if errors:
        raise LearningDataError(errors)
    return enrollments


def _new_events(events: Sequence[LearningEventInput], *, stored: set[str]) -> list[tuple[int, LearningEventInput]]:
    """The events to insert with their position: not stored yet, first occurrence within the batch."""
    seen = set(stored)
    new: list[tuple[int, LearningEventInput]] = []
    for index, event in enumerate(events):
        if event.event_id not in seen:
            seen.add(event.event_id)
            new.append((index, event))
    return new


def learning_events_preview(*, events: Sequence[LearningEventInput]) -> RecordResult:
    """What ``learning_events_record`` would do, without writing (for a dry run)."""
    learning_events_validate(events=events)
    new = _new_events(events, stored=_stored_event_ids(event.event_id for event in events))
    return RecordResult(accepted=len(new), duplicates=len(events) - len(new))


def learning_events_record(
    *, events: Sequence[LearningEventInput], source: str, nonce: str | None = None
) -> RecordResult:
    """Store the events not stored yet and recompute the progress of the enrollments they touch.

    All or nothing: a bad event raises ``LearningDataError`` and nothing is stored. ``nonce`` (the
    request signature of the signed endpoint) is stored in the same transaction; a nonce seen
    before raises ``LearningReplayError``. Re-sent event ids are counted as duplicates; an id that
    a concurrent batch stored first raises ``LearningConflictError`` (send the batch again).
    """
    enrollments = learning_events_validate(events=events)
    try:
        new, updated = _events_store(events=events, enrollments=enrollments, source=source, nonce=nonce)
    except IntegrityError as exc:
        raise LearningConflictError from exc
    result = RecordResult(accepted=len(new), duplicates=len(events) - len(new), enrollments_updated=updated)
    logger.info(
        "Recorded learning events from %s: %d accepted, %d duplicates, %d enrollments updated",
        source,
        result.accepted,
        result.duplicates,
        result.enrollments_updated,
    )
    return result


def _events_store(
    *, events: Sequence[LearningEventInput], enrollments: list[Enrollment], source: str, nonce: str | None
) -> tuple[list[tuple[int, LearningEventInput]], int]:
    """The transaction of ``learning_events_record``: nonce, new events, recomputed enrollments."""
    with transaction.atomic():
        if nonce is not None:
            ingestion_nonce_store(signature=nonce, sender=LEARNING_PLATFORM)
        # Lock the enrollments (in pk order, so concurrent batches cannot deadlock): a batch for the
        # same enrollment waits, then sees these events when it recomputes.
        locked = list(
            Enrollment.objects.select_for_update(of=("self",))
            .select_related("order__course")
            .filter(pk__in={enrollment.pk for enrollment in enrollments})
            .order_by("pk")
        )
        new = _new_events(events, stored=_stored_event_ids(event.event_id for event in events))
        LearningEvent.objects.bulk_create(
            [
                LearningEvent(
                    event_id=event.event_id,
                    enrollment_id=enrollments[index].pk,
                    kind=event.kind,
                    lesson_no=event.lesson_no,
                    seconds=event.seconds,
                    completed=event.completed,
                    rating=event.rating,
                    score=event.score,
                    occurred_at=event.occurred_at,
                    source=source,
                )
                for index, event in new
            ]
        )
        touched = {enrollments[index].pk for index, _event in new}
        updated = _enrollments_recompute(
            enrollments=[enrollment for enrollment in locked if enrollment.pk in touched], source=source
        )
    return new, updated


def _enrollments_recompute(*, enrollments: list[Enrollment], source: str) -> int:
    """Recompute the progress of ``enrollments`` (with ``order__course``) from all their events."""
    if not enrollments:
        return 0
    ids = [enrollment.pk for enrollment in enrollments]
    watched = Q(kind=LearningEventKind.LESSON_WATCHED, completed=True)
    live = Q(kind=LearningEventKind.LIVE_ATTENDED)
    stats = {
        row["enrollment_id"]: row
        for row in LearningEvent.objects.filter(enrollment_id__in=ids)
        .order_by()
        .values("enrollment_id")
        .annotate(
            watched=Count("lesson_no", filter=watched, distinct=True),
            live=Count("lesson_no", filter=live, distinct=True),
            delivered=Count("lesson_no", filter=watched | live, distinct=True),
            homework=Count("lesson_no", filter=Q(kind=LearningEventKind.HOMEWORK_SUBMITTED), distinct=True),
            seconds=Sum(
                "seconds",
                filter=Q(kind__in=[LearningEventKind.LESSON_WATCHED, LearningEventKind.LIVE_ATTENDED]),
                default=0,
            ),
            last_learning_at=Max("occurred_at", filter=~Q(kind=LearningEventKind.RATING)),
            # Every test_scored event is one test taken (a retake is another test).
            tests=Count("pk", filter=Q(kind=LearningEventKind.TEST_SCORED)),
            score_avg=Avg("score", filter=Q(kind=LearningEventKind.TEST_SCORED)),
        )
    }
    # The latest rating wins; equal times are broken by event id so arrival order never matters.
    ratings: dict[int, int | None] = {}
    for enrollment_id, rating in (
        LearningEvent.objects.filter(enrollment_id__in=ids, kind=LearningEventKind.RATING)
        .order_by("enrollment_id", "-occurred_at", "-event_id")
        .values_list("enrollment_id", "rating")
    ):
        ratings.setdefault(enrollment_id, rating)

    changed: list[Enrollment] = []
    for enrollment in enrollments:
        values = _enrollment_progress(
            course=enrollment.order.course,
            stats=stats.get(enrollment.pk, {}),
            latest_rating=ratings.get(enrollment.pk),
            current=enrollment,
        )
        if any(getattr(enrollment, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(enrollment, field, value)
            changed.append(enrollment)
    if changed:
        bulk_update_with_history(
            changed,
            Enrollment,
            fields=list(PROGRESS_FIELDS),
            default_change_reason=f"learning events ({source})",
        )
    return len(changed)


def _enrollment_progress(
    *, course: Course, stats: Mapping[str, Any], latest_rating: int | None, current: Enrollment
) -> dict[str, Any]:
    """The progress fields from aggregated events; lessons consumed never go down, and a rating,
    test figures or last learning time with no event behind them are kept as they are."""
    watched = stats.get("watched", 0)
    tests = stats.get("tests", 0)
    score_avg = stats.get("score_avg")
    live = stats.get("live", 0)
    delivered = stats.get("delivered", 0)
    progress = (Decimal(watched) * 100 / Decimal(course.lessons)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return {
        "lessons_consumed": max(current.lessons_consumed, delivered),
        "lessons_watched": watched,
        "watch_progress": min(progress, Decimal("100.00")),
        "study_seconds": stats.get("seconds", 0),
        "live_sessions_attended": live,
        # Lessons watched but not attended live: |watched ∪ live| - |live|.
        "replays_watched": delivered - live if course.course_type == CourseType.LIVE else 0,
        "homework_submitted": stats.get("homework", 0),
        "rating": latest_rating if latest_rating is not None else current.rating,
        "tests_taken": tests or current.tests_taken,
        "test_score_avg": (
            # str(): SQLite averages as a float, whose binary error must not decide the rounding.
            Decimal(str(score_avg)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            if tests and score_avg is not None
            else current.test_score_avg
        ),
        "last_learning_at": stats.get("last_learning_at") or current.last_learning_at,
    }
