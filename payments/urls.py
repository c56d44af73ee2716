"""Gateway callbacks: verified before they change anything."""

from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("wechat/refund-notify/", views.wechat_refund_notify, name="wechat-notify"),
    path("alipay/notify/", views.alipay_notify, name="alipay-notify"),
]
