"""The refund apply page as the student reads it (issue 20): the quote updated in place with htmx (and
without JavaScript), the error summary, plain sentences with the formula on demand, the days bar, the
contract wording, the amount and where it goes next to the submit button, the evidence limits."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from orders.models import CourseType, PaymentChannel
from payments.gateways.registry import arrival_note
from refunds.evidence import MAX_EVIDENCE_BYTES, MAX_EVIDENCE_FILES
from refunds.models import QuoteLineKind, RefundRequest
from refunds.quotes import quote_plain_lines
from tests.refunds.helpers import order_at

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _own_cache(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex}
    }


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str = "3000.00", **kwargs):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


@pytest.fixture
def as_student(client, student):
    client.force_login(student.user)
    return client


def apply_url(order) -> str:
    return reverse("portal:apply", args=[order.order_no])


def text(response) -> str:
    return response.content.decode()


def plain_list(page: str) -> str:
    """The plain-sentence list of the quote, without the formulas behind "see the calculation"."""
    return page.split('<ul class="plain-lines">', 1)[1].split("</ul>", 1)[0]


# --- htmx: the quote in place, and the page without JavaScript ----------------------------------------


def test_an_htmx_request_gets_only_the_quote_fragment_with_the_same_figures(as_student, buy):
    order = buy(lessons_watched=12)
    full = as_student.get(apply_url(order), {"reason": "time_conflict"})
    fragment = as_student.get(apply_url(order), {"reason": "time_conflict"}, **HTMX)
    assert fragment.status_code == 200
    body = text(fragment)
    assert body.lstrip().startswith('<div id="apply-quote"')
    assert "<html" not in body and "<header" not in body and 'name="reason" id="id_reason_select"' not in body
    assert [t.name for t in fragment.templates][0] == "portal/_apply_quote.html"
    mine, theirs = fragment.context["quote"], full.context["quote"]
    assert (mine.total, mine.lines, mine.method) == (theirs.total, theirs.lines, theirs.method)
    assert "¥1,620.00" in body and "¥1,620.00" in text(full)  # (3000 − 1200) less the 10 % fee
    assert plain_list(body) == plain_list(text(full))
    assert "HX-Request" in fragment["Vary"]


def test_the_fragment_follows_the_chosen_reason(as_student, buy):
    order = buy(lessons_watched=12)
    illness = as_student.get(apply_url(order), {"reason": "illness"}, **HTMX)
    assert illness.context["quote"].reason == "illness"
    assert "¥1,800.00" in text(illness)  # 3000 less the 12 lessons watched; no fee, no time limit
    assert 'value="illness"' in text(illness)  # the application's hidden reason follows too
    assert "evidence-needed" in text(illness)


def test_the_back_button_restoring_history_gets_the_whole_page(as_student, buy):
    order = buy()
    response = as_student.get(
        apply_url(order), {"reason": "time_conflict"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )
    assert "<html" in text(response)


def test_an_htmx_request_on_an_order_that_changed_reloads_the_whole_page(as_student, buy):
    from tests.refunds.helpers import submit

    order = buy()
    submit(order)
    response = as_student.get(apply_url(order), {"reason": "time_conflict"}, **HTMX)
    assert response["HX-Refresh"] == "true"
    assert response.content == b""


def test_without_javascript_the_reason_form_reloads_the_page_with_the_quote(as_student, buy):
    order = buy()
    page = text(as_student.get(apply_url(order)))
    form = page.split('class="reason-form"', 1)[0].rsplit("<form", 1)[1] + page.split('class="reason-form"', 1)[1]
    assert 'method="get"' in form and f'action="{apply_url(order)}"' in form
    assert 'class="button secondary nojs-only"' in page  # the button, hidden by CSS only when htmx runs
    assert f'hx-get="{apply_url(order)}"' in page and 'hx-target="#apply-quote"' in page
    with_reason = as_student.get(apply_url(order), {"reason": "time_conflict"})
    assert with_reason.context["quote"].total == with_reason.context["quote"].amount_paid * 9 / 10


def test_htmx_is_loaded_as_a_static_file_and_configured_without_eval_or_injected_styles(as_student, buy):
    page = text(as_student.get(apply_url(buy()), {"reason": "time_conflict"}))
    assert re.search(r'<script src="[^"]*vendor/htmx/htmx\.min\.js" defer></script>', page)
    assert re.search(r'<script src="[^"]*portal/apply\.js" defer></script>', page)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", page).group(1)
    assert '"includeIndicatorStyles":false' in config and '"allowEval":false' in config
    assert " style=" not in page.split("<body>", 1)[1]  # the CSP refuses style attributes


# --- The error summary ----------------------------------------------------------------------------------


def test_a_refused_application_lists_every_error_at_the_top_linking_to_its_field(as_student, buy):
    response = as_student.post(apply_url(buy()), {"reason": "time_conflict", "details": "很" * 2001})
    page = text(response)
    assert response.status_code == 200
    assert not RefundRequest.objects.exists()
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'href="#id_details"' in summary and 'href="#id_confirm"' in summary
    assert 'tabindex="-1"' in page.split('id="error-summary"', 1)[1][:200]
    assert page.index('id="error-summary"') < page.index('name="details"')  # at the top of the form
    assert "很" * 2001 in page  # what she typed is kept


def test_a_first_visit_has_no_error_summary(as_student, buy):
    assert 'id="error-summary"' not in text(as_student.get(apply_url(buy()), {"reason": "time_conflict"}))


# --- Plain sentences, the formula on demand ------------------------------------------------------------


def test_zero_lines_that_explain_nothing_are_left_out_of_the_plain_sentences(as_student, buy):
    # Day 4, 40 % watched: past the cooling-off ceiling; the 100 % tier deducts nothing.
    response = as_student.get(apply_url(buy(lessons_watched=12)), {"reason": "time_conflict"})
    quote = response.context["quote"]
    tier = next(line for line in quote.lines if line.kind == QuoteLineKind.TIME_TIER)
    assert tier.amount == 0
    plain = plain_list(text(response))
    assert "kind-time_tier" not in plain
    assert "¥0.00" not in plain
    assert "kind-consumption" in plain and "−¥1,200.00" in plain and "−¥180.00" in plain
    assert "<code>" not in plain
    details = text(response).split('<details class="quote-formulas">', 1)[1].split("</details>", 1)[0]
    assert "3000.00 × 12 ÷ 30 = 1200.00" in details  # the formula, on demand


def test_a_zero_cooling_off_line_stays_because_it_explains_the_full_amount(as_student, buy):
    response = as_student.get(apply_url(buy()), {"reason": "time_conflict"})
    plain = plain_list(text(response))
    assert "kind-cooling_off" in plain
    with translation.override("zh-hans"):
        sentence = gettext(
            "Day %(day)s counted from %(anchor)s, within the %(days)s-day cooling-off window: "
            "no lessons or time deducted."
        ) % {"day": response.context["quote"].day_from_start, "days": 7, "anchor": gettext("the course start")}
    assert sentence in plain


def test_the_plain_sentences_cover_every_line_that_changes_the_amount(buy):
    from refunds.services import refund_quote

    quote = refund_quote(order=buy(lessons_watched=12), reason="time_conflict")
    plain = quote_plain_lines(quote)
    changing = [line.kind for line in quote.lines if line.amount != 0]
    assert [line.kind for line in plain if line.amount] == changing
    assert sum(line.amount for line in plain if line.amount is not None) == quote.total


def test_a_contract_course_never_shows_the_whole_amount_as_a_deduction(as_student, buy):
    response = as_student.get(apply_url(buy("19800.00", course_type=CourseType.PREMIUM)), {"reason": "time_conflict"})
    page = text(response)
    assert response.context["quote"].needs_approver_amount
    plain = plain_list(page)
    assert "−¥19,800.00" not in page and "-19800.00" not in page and "−¥19800.00" not in page
    assert "kind-contract" in plain and "¥19,800.00" in plain  # "at most ¥19,800.00", as a sentence
    assert "days-bar" not in page  # no time tiers under a contract
    with translation.override("zh-hans"):
        assert gettext("Set by the approver under your contract") in page


# --- The days bar, the measure counted, the submit summary, the evidence limits ----------------------------


def test_the_days_bar_marks_her_day_in_the_cooling_off_window(as_student, buy):
    page = text(as_student.get(apply_url(buy()), {"reason": "time_conflict"}))
    bar = page.split('<figure class="days-bar">', 1)[1].split("</figure>", 1)[0]
    segments = bar.split('<li class="days-seg')[1:]
    assert len(segments) == 2  # days 1–7 (cooling-off), day 8 on
    assert 'aria-current="step"' in segments[0] and "cooling" in segments[0].split(">", 1)[0]
    assert "days-here" in segments[0] and "days-here" not in segments[1]


def test_next_to_the_submit_button_the_amount_and_where_it_goes(as_student, buy):
    order = buy(channel=PaymentChannel.ALIPAY)
    page = text(as_student.get(apply_url(order), {"reason": "time_conflict"}))
    summary = page.split('id="submit-summary"', 1)[1].split("</div>", 1)[0]
    assert "¥2,700.00" in summary
    with translation.override("zh-hans"):
        assert str(PaymentChannel.ALIPAY.label) in summary
        assert arrival_note(PaymentChannel.ALIPAY) in summary
    assert summary.index("¥2,700.00") < summary.index('type="submit"')


def test_the_evidence_limits_are_said_before_upload_from_the_upload_check(as_student, buy):
    page = text(as_student.get(apply_url(buy()), {"reason": "time_conflict"}))
    picker = page.split('id="evidence-picker"', 1)[1].split(">", 1)[0]
    assert f'data-max-bytes="{MAX_EVIDENCE_BYTES}"' in picker
    assert f'data-max-files="{MAX_EVIDENCE_FILES}"' in picker
    assert 'data-types="application/pdf image/jpeg image/png"' in picker
    assert 'capture="environment"' in page  # 拍照 on a phone
    assert page.index("evidence-limits") < page.index('type="file"')


def test_files_from_both_evidence_inputs_are_kept_together(as_student, buy):
    from tests.refunds.helpers import pdf

    order = buy()
    png = pdf("scan.pdf")
    response = as_student.post(
        apply_url(order),
        {"reason": "illness", "details": "住院", "confirm": "on", "evidence": [png, pdf("second.pdf")]},
    )
    assert response.status_code == 302
    assert RefundRequest.objects.get().evidence.count() == 2


def test_nothing_refundable_for_a_reason_is_not_shown_as_good_news(as_student, buy):
    # A trial after its start refunds nothing for the generic reason (its quality rule still would).
    late = buy("99.00", course_type=CourseType.TRIAL)
    page = text(as_student.get(apply_url(late), {"reason": "time_conflict"}))
    assert 'class="quote-total-amount nothing"' in page
    fine = text(as_student.get(apply_url(buy()), {"reason": "time_conflict"}))
    assert 'class="quote-total-amount"' in fine
