"""The personal center (个人中心): pages a student sees, one module per area.

Each module keeps its own ``urlpatterns``; ``portal/urls.py`` joins them. Every page goes
through ``common.student_page`` so it only ever sees the logged-in student's own data.
"""
