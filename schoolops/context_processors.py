from django.conf import settings


def school(request):
    """The school's name and the service desk's contact line for every page."""
    return {
        "school_name": settings.SCHOOL_NAME,
        "service_hotline": settings.SERVICE_HOTLINE,
        "service_hours": settings.SERVICE_HOURS,
    }
