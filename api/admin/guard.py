"""What a dashboard page declares instead of require(): the same permission check (and the same
marker the permission walk reads), but where a JSON route answers 401 or 403 a page leads
somewhere a person can act: to the sign-in page, to setting up a second factor, or to a page
saying why the role may not open it (api.admin.pages turns these into answers)."""

from __future__ import annotations

from fastapi import Request

from api.deps import SessionDep
from api.errors import Forbidden, Unauthorized
from api.permissions import P
from api.tenancy import MustEnrol, Principal, Require


class SignInFirst(Exception):
    """Not signed in, or not finished signing in: the sign-in page."""


class EnrolFirst(Exception):
    """A login that must set up a second factor first: its account page."""


class PageRefused(Exception):
    """A page the person's role may not open: a page saying why (403), not JSON."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class _RequirePage(Require):
    async def __call__(self, request: Request, session: SessionDep) -> Principal:
        try:
            principal = await super().__call__(request, session)
        except Unauthorized:
            raise SignInFirst from None
        except MustEnrol:
            raise EnrolFirst from None
        except Forbidden as exc:
            raise PageRefused(exc.detail) from None
        if principal.staff_id is None:
            raise PageRefused("The dashboard is for people; an API token has no pages")
        return principal


def require_page(permission: P, *, enrolling: bool = False) -> Require:
    """Dependency of a dashboard page: the staff member asking, if their role grants
    `permission`; `enrolling`: also a login that must set up a second factor first."""
    return _RequirePage(permission, enrolling)
