"""The page forms check what a form can before any service is asked."""

from __future__ import annotations

import pytest

from portal.forms import RefundEstimateForm

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("lessons", "valid"), [("0", True), ("30", True), ("31", False), ("-1", False), ("x", False)])
def test_the_estimate_form_accepts_0_to_the_course_lessons(course, lessons, valid):
    form = RefundEstimateForm({"reason": "other", "lessons": lessons}, course=course)
    assert form.is_valid() is valid
    if not valid:
        assert list(form.errors) == ["lessons"]
