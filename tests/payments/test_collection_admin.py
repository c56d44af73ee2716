"""Collections in the admin: read-only, scoped to the viewer's campus, with the gateway's exchanges."""

from __future__ import annotations

import pytest
from django.urls import reverse

from schoolops.models import StaffRole
from tests import factories

from .helpers import open_collection

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(gateway_settings, student):
    gateway_settings.callbacks_enabled = False
    return open_collection(student=student)


def _url(name: str, *args) -> str:
    return reverse(f"admin:payments_collection_{name}", args=args)


def test_finance_of_the_campus_sees_the_collection_and_its_exchanges(client, collection, finance):
    client.force_login(finance.user)
    assert collection.collection_no in client.get(_url("changelist")).content.decode()
    page = client.get(_url("change", collection.pk)).content.decode()
    assert collection.collection_no in page
    assert "NATIVE" in page  # the create exchange's request, as sent


def test_finance_of_another_campus_sees_nothing_of_it(client, collection, other_campus):
    other = factories.make_staff(role=StaffRole.FINANCE, campus=other_campus)
    client.force_login(other.user)
    assert collection.collection_no not in client.get(_url("changelist")).content.decode()
    assert client.get(_url("change", collection.pk)).status_code == 404


def test_a_homeroom_teacher_is_turned_away(client, collection, homeroom):
    client.force_login(homeroom.user)
    assert client.get(_url("changelist")).status_code == 403


def test_nobody_edits_a_collection_by_hand(client, collection, finance):
    client.force_login(finance.user)
    assert client.get(_url("add")).status_code == 403
    assert client.post(_url("delete", collection.pk), {"post": "yes"}).status_code == 403
    page = client.get(_url("change", collection.pk)).content.decode()
    assert 'name="_save"' not in page
