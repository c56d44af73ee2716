from .views import exchanges, helpcenter, inbox, lessons, orders, preferences, ratings, referrals, refunds, tickets

app_name = "portal"

urlpatterns = [
    *orders.urlpatterns,
    *refunds.urlpatterns,
    *exchanges.urlpatterns,
    *helpcenter.urlpatterns,
    *preferences.urlpatterns,
    *inbox.urlpatterns,
    *ratings.urlpatterns,
    *tickets.urlpatterns,
    *lessons.urlpatterns,
    *referrals.urlpatterns,
]
