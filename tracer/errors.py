"""The one exception type users see as a clean one-line message."""


class BrtraceError(Exception):
    """An error for the user: printed as ``brtrace: <message>``, never a traceback.

    ``exit_code`` follows tcpdump/ping habits: 1 for "it did not work", 2 for
    bad usage, 77 for missing privileges (as sysexits' EX_NOPERM).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NeedRoot(BrtraceError):
    """``caps`` names what the command really uses (a lab loads no BPF)."""

    def __init__(self, what: str, caps: str = "CAP_NET_ADMIN and CAP_BPF") -> None:
        super().__init__(f"{what} needs root ({caps}); run it with sudo", 77)
