"""sgtest: sendguard's end-to-end test harness.

A real Postfix on loopback inside a network namespace made by the test, unbound serving the
test zones, smtp-sink capturing what Postfix sends, the milter under test (sendguard, or
OpenDKIM to prove the harness), and independent DKIM verifiers (dkimpy, Mail::DKIM).

Modules:
  proc       processes with timeouts and PID-based stop; wait_until
  netns      the network namespace and its resolv.conf
  dkimkeys   test keys and their DNS records (openssl, independent of the milter)
  dnsserver  unbound with local-data records
  postfix    the throwaway Postfix, smtp-sink and its dump format
  milters    the milter under test (sendguard, OpenDKIM)
  mailmsg    line ends, header fields, generated messages (PDF, large message)
  verify     dkimpy and Mail::DKIM verification
  agent      runs inns.py inside the namespace
  cli        default binary paths, signals that still tear down
  world      all of the above set up and torn down together (and the milter restarted,
             crashed, or its sendguardctl run inside the namespace)
  quarantine messages the rules accept or quarantine, sendguardctl JSON, database looks
  inns       the agent run inside the namespace (SMTP client, DNS wait, dkimpy)
Needs root and /usr/bin/python3 (Debian's, which has python3-dkim).
"""

from .proc import HarnessError
from .world import World, check_prerequisites

__all__ = ["HarnessError", "World", "check_prerequisites"]
