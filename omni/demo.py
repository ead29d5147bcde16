"""Demo users, one per staff role. A new user's password is printed once; reruns keep it."""

import secrets

from django.contrib.auth.models import Group

from omni.models import User
from omni.roles import BACKOFFICE_ADMIN, MARKETER, STORE_MANAGER, STORE_STAFF

DEMO_USERS = [
    # (e-mail, first name, last name, role)
    ("tienda@omni.example", "Lucía", "Martín", STORE_STAFF),
    ("encargado@omni.example", "Javier", "López", STORE_MANAGER),
    ("marketing@omni.example", "Carmen", "Ruiz", MARKETER),
    ("admin@omni.example", "Pablo", "García", BACKOFFICE_ADMIN),
]


def seed(ctx) -> None:
    users = {}
    for email, first_name, last_name, role in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user(
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                is_staff=True,
            )
            ctx.say(f"  {role:<18} {email:<26} password: {password}")
        else:
            ctx.say(f"  {role:<18} {email:<26} (exists, password unchanged)")
        user.groups.add(Group.objects.get(name=role))
        users[role] = user
    ctx.data["users"] = users
