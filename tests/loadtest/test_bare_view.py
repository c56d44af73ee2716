"""The load test's baseline view lives only in the load test's URLconf."""

import pytest
from django.urls import Resolver404, resolve

from loadtest.urls import bare


def test_the_bare_view_is_in_the_load_tests_urlconf():
    assert resolve("/_bare/", urlconf="loadtest.urls").func is bare


def test_the_bare_view_is_not_in_the_production_urlconf():
    with pytest.raises(Resolver404):
        resolve("/_bare/")


def test_the_load_tests_urlconf_keeps_every_product_url():
    assert resolve("/admin/refunds/approvalqueueitem/", urlconf="loadtest.urls").url_name == (
        resolve("/admin/refunds/approvalqueueitem/").url_name
    )
