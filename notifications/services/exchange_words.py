"""The next steps told with each course exchange event, per language: data like the default
templates (``notifications.migrations.0008_exchange_templates``)."""

EXCHANGE_NEXT_STEPS: dict[str, dict[str, str]] = {
    "submitted": {
        "zh-hans": "客服会先审核您的换课申请，再由教学主管审批；您可以在申请页面随时查看进度。",
        "en": (
            "Customer service reviews your exchange first, then the teaching supervisor decides; "
            "follow it on the request page."
        ),
    },
    "approved_pay": {
        "zh-hans": "请在截止时间前到申请页面在线补交差额，付款确认后即为您开通新课程；逾期未付，换课申请将自动失效。",
        "en": (
            "Please pay the difference on the request page before the deadline; the new course opens once the "
            "payment is confirmed. If it is not paid in time, the exchange lapses."
        ),
    },
    "approved_refund": {
        "zh-hans": "差额将原路退回，到账后即为您开通新课程。",
        "en": "The difference goes back the way you paid; the new course opens once it has left.",
    },
    "approved_even": {
        "zh-hans": "无需补交或退还差额，新课程已为您开通。",
        "en": "Nothing to pay or refund: your new course is open.",
    },
}
