from .views import helpcenter, orders, preferences, refunds

app_name = "students"

urlpatterns = [*orders.urlpatterns, *refunds.urlpatterns, *helpcenter.urlpatterns, *preferences.urlpatterns]
