/* Outbound requests to addresses an operator did not mean to expose (SSRF):
 * webhook targets may not be loopback, private, link-local or otherwise
 * non-public addresses unless KOPPEL_WEBHOOK_ALLOW_PRIVATE is set. */
#ifndef KOPPEL_NETGUARD_H
#define KOPPEL_NETGUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Whether sa (AF_INET or AF_INET6) is not a public unicast address:
 * unspecified, loopback, RFC 1918 / unique-local, link-local, carrier-grade
 * NAT, benchmarking, multicast, reserved, broadcast, and IPv4 inside IPv6
 * (mapped, NAT64) when the IPv4 address is one of those. Other families: true. */
bool netguard_blocked(const struct sockaddr *sa);

/* Resolves the host of an http(s) URL and checks every address it resolves
 * to. Returns true when one of them is blocked, with the host and address
 * in why (for a 422). A host that does not resolve is not blocked here: the
 * delivery checks the address it connects to (netguard_blocked) as well. */
bool netguard_url_blocked(const char *url, char *why, size_t len);
#endif
