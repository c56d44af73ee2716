"""The next steps told with each course exchange event, per language: data like the default
templates (``notifications.migrations.0008_exchange_templates``).

Keys are the refund event kinds (``approved`` splits by the difference: ``approved_pay``,
``approved_refund``, ``approved_even``); a kind without an entry keeps the refund's wording
(``recipients.NEXT_STEPS``). ``completed`` and ``moved_*`` are the exchange's own messages
(``exchanges.notices``): the student's, and her homeroom teachers' (the old course's, the new
course's, or both when one teacher has both).
"""

EXCHANGE_NEXT_STEPS: dict[str, dict[str, str]] = {
    "submitted": {
        "zh-hans": "客服会先审核您的换课申请，再由教学主管审批；您可以在申请页面随时查看进度。",
        "en": (
            "Customer service reviews your exchange first, then the teaching supervisor decides; "
            "follow it on the request page."
        ),
    },
    "assigned": {
        "zh-hans": "请核对新课程是否适合学员、差额计算是否无误，并在截止时间前完成审核。",
        "en": (
            "Please check that the new course suits the student and that the difference is right, "
            "and decide before the deadline."
        ),
    },
    "advanced": {
        "zh-hans": "目前无需您做任何操作，每一步审核完成后我们都会通知您；在此期间，您的原课程照常学习。",
        "en": (
            "There is nothing for you to do now: we tell you after every step. Meanwhile your current course "
            "goes on as before."
        ),
    },
    "escalated": {
        "zh-hans": "该换课申请已超过审核时限，学员正在等待结果，请尽快处理。",
        "en": "The exchange waited past its deadline and the student is waiting for an answer; please decide it now.",
    },
    "returned": {
        "zh-hans": "补充提交后我们会继续审核；在此期间，您的原课程照常学习，不受影响。",
        "en": "Once you have added it we carry on with the review; meanwhile your current course goes on as before.",
    },
    "approved_pay": {
        "zh-hans": "请在截止时间前到申请页面在线补交差额，付款确认后即为您开通新课程；逾期未付，换课申请将自动失效。",
        "en": (
            "Please pay the difference on the request page before the deadline; the new course opens once the "
            "payment is confirmed. If it is not paid in time, the exchange lapses."
        ),
    },
    "approved_refund": {
        "zh-hans": "差额将原路退回，退款成功后即为您开通新课程，我们会再通知您。",
        "en": "The difference goes back the way you paid; the new course opens once the refund has gone through.",
    },
    "approved_even": {
        "zh-hans": "无需补交或退还差额，新课程已为您开通。",
        "en": "Nothing to pay or refund: your new course is open.",
    },
    "rejected": {
        "zh-hans": "您的原课程不受影响，可以继续正常学习；如有需要，也欢迎选择其他课程重新申请换课。",
        "en": (
            "Your current course is not affected and goes on as before; you are welcome to ask for an exchange "
            "to another course."
        ),
    },
    "cancelled": {
        "zh-hans": "您的原课程不受影响，可以继续学习；如仍想换课，欢迎随时重新申请。",
        "en": "Your current course is not affected; if you still wish to change, you may apply again at any time.",
    },
    "appealed": {
        "zh-hans": "我们会请更高一级的老师重新审核您的换课申请，有结果后第一时间通知您。",
        "en": "A more senior colleague will look at your exchange again; we will tell you as soon as it is decided.",
    },
    "payout_succeeded": {
        "zh-hans": "新课程随即为您开通，换课完成后我们会另行通知您；请保留本消息作为退款凭证。",
        "en": (
            "Your new course opens now and we will tell you when the exchange is complete; keep this message as "
            "the record of the refund."
        ),
    },
    "closed": {
        "zh-hans": (
            "如换课已完成，新课程已为您开通，祝学习顺利；如未完成，原课程保持不变，您可以继续学习，也欢迎随时重新申请。"
        ),
        "en": (
            "If the exchange was completed, your new course is open: enjoy it. If not, your current course stays "
            "as it was; you may go on with it or apply again at any time."
        ),
    },
    "completed": {
        "zh-hans": "请到换课页面确认本次换课，并为我们的服务打个分，您的反馈会帮助我们做得更好。",
        "en": "Please confirm the exchange on your exchange page and rate our service: your feedback helps us improve.",
    },
    "moved_from": {
        "zh-hans": "原课程的订单已因换课关闭，之后由新课程的班主任跟进该学员。",
        "en": (
            "The old order is closed as exchanged; the new course's homeroom teacher follows the student from now on."
        ),
    },
    "moved_to": {
        "zh-hans": "请尽快联系学员，欢迎其加入新课程，并帮助其顺利开始学习。",
        "en": "Please contact the student soon, welcome them to the new course and help them get started.",
    },
    "moved_both": {
        "zh-hans": "学员仍由您负责：原课程的订单已因换课关闭，请帮助学员顺利开始新课程的学习。",
        "en": (
            "You remain the student's homeroom teacher: the old order is closed as exchanged; please help them get "
            "started in the new course."
        ),
    },
}
