from .views import helpcenter, orders, refunds

app_name = "students"

urlpatterns = [*orders.urlpatterns, *refunds.urlpatterns, *helpcenter.urlpatterns]
