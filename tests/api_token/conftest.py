# The identity fixtures (clients in each auth mode, the issuer's RSA key) are shared with auth/.
from tests.auth.conftest import client_with, rsa_key

__all__ = ["client_with", "rsa_key"]
