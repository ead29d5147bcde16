from rest_framework import permissions


class ModelPermissionsOrReadOnly(permissions.DjangoModelPermissionsOrAnonReadOnly):
    """Anyone may read; writing needs the model's add/change/delete permission.

    Endpoints that expose private data set their own permission classes.
    """

    authenticated_users_only = False
