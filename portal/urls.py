from .views import helpcenter, inbox, orders, preferences, ratings, refunds, tickets

app_name = "portal"

urlpatterns = [
    *orders.urlpatterns,
    *refunds.urlpatterns,
    *helpcenter.urlpatterns,
    *preferences.urlpatterns,
    *inbox.urlpatterns,
    *ratings.urlpatterns,
    *tickets.urlpatterns,
]
