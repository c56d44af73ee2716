"""Every write of the students app, one function per use case.

``ingestion``: what the intakes from other systems share (field errors, the raw reader, the
replay nonces of the signed endpoints).
``learning``: learning events from the learning platform, and the progress computed from them.
``orders``: orders, students and enrollments from the school's order system.
"""

from .ingestion import (
    FieldError,
    IngestionDataError,
    IngestionReplayError,
    ingestion_nonce_purge,
)
from .learning import (
    EVENT_FIELDS,
    MAX_EVENTS_PER_REQUEST,
    PROGRESS_FIELDS,
    REQUIRED_EVENT_FIELDS,
    LearningConflictError,
    LearningDataError,
    LearningEventInput,
    LearningReplayError,
    RecordResult,
    learning_event_rows_parse,
    learning_events_parse,
    learning_events_preview,
    learning_events_record,
    learning_events_validate,
)
from .orders import (
    MAX_ORDERS_PER_REQUEST,
    ORDER_COLUMNS,
    REQUIRED_ORDER_COLUMNS,
    IntakeResult,
    OrderConflictError,
    OrderDataError,
    OrderInput,
    StudentInput,
    order_column,
    order_rows_parse,
    orders_parse,
    orders_preview,
    orders_record,
    student_username,
)

__all__ = [
    "EVENT_FIELDS",
    "MAX_EVENTS_PER_REQUEST",
    "MAX_ORDERS_PER_REQUEST",
    "ORDER_COLUMNS",
    "PROGRESS_FIELDS",
    "REQUIRED_EVENT_FIELDS",
    "REQUIRED_ORDER_COLUMNS",
    "FieldError",
    "IngestionDataError",
    "IngestionReplayError",
    "IntakeResult",
    "LearningConflictError",
    "LearningDataError",
    "LearningEventInput",
    "LearningReplayError",
    "OrderConflictError",
    "OrderDataError",
    "OrderInput",
    "RecordResult",
    "StudentInput",
    "ingestion_nonce_purge",
    "learning_event_rows_parse",
    "learning_events_parse",
    "learning_events_preview",
    "learning_events_record",
    "learning_events_validate",
    "order_column",
    "order_rows_parse",
    "orders_parse",
    "orders_preview",
    "orders_record",
    "student_username",
]
