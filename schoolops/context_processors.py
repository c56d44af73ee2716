from django.conf import settings


def school(request):
    """The school's name for every page header."""
    return {"school_name": settings.SCHOOL_NAME}
