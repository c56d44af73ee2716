from .views import helpcenter, inbox, orders, preferences, refunds, tickets

app_name = "portal"

urlpatterns = [
    *orders.urlpatterns,
    *refunds.urlpatterns,
    *helpcenter.urlpatterns,
    *preferences.urlpatterns,
    *inbox.urlpatterns,
    *tickets.urlpatterns,
]
