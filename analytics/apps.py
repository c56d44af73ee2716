from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        # Inside ready(): refunds.events and our services import models, which needs the app
        # registry complete; analytics sits on the top floor, so refunds never imports it and the
        # listener has to be registered from here.
        from refunds.events import refund_event_listener
        from students.events import enrollment_news_writer

        from . import events, tasks  # noqa: F401 - registers the alert event and the beat tasks by name
        from .services import facts_on_enrollment_news, facts_on_refund_event

        # After the commit of every refund event: refresh the facts of the days it touched.
        refund_event_listener(facts_on_refund_event)
        # After the commit of the order intake's news: the revenue of the days its orders were paid on.
        enrollment_news_writer(facts_on_enrollment_news)
