"""FakePay's own tests get the registering fixture."""

from tests.fakepay.fixtures import fakepay  # noqa: F401
