#include "service/netguard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool v4_blocked(uint32_t a) {
  static const struct {
    uint32_t net, mask;
  } ranges[] = {
    {0x00000000u, 0xff000000u}, /* 0.0.0.0/8 "this network" */
    {0x0a000000u, 0xff000000u}, /* 10.0.0.0/8 */
    {0x64400000u, 0xffc00000u}, /* 100.64.0.0/10 carrier-grade NAT */
    {0x7f000000u, 0xff000000u}, /* 127.0.0.0/8 loopback */
    {0xa9fe0000u, 0xffff0000u}, /* 169.254.0.0/16 link-local (cloud metadata) */
    {0xac100000u, 0xfff00000u}, /* 172.16.0.0/12 */
    {0xc0000000u, 0xffffff00u}, /* 192.0.0.0/24 IETF protocol assignments */
    {0xc0000200u, 0xffffff00u}, /* 192.0.2.0/24 documentation */
    {0xc0a80000u, 0xffff0000u}, /* 192.168.0.0/16 */
    {0xc6120000u, 0xfffe0000u}, /* 198.18.0.0/15 benchmarking */
    {0xc6336400u, 0xffffff00u}, /* 198.51.100.0/24 documentation */
    {0xcb007100u, 0xffffff00u}, /* 203.0.113.0/24 documentation */
    {0xe0000000u, 0xf0000000u}, /* 224.0.0.0/4 multicast */
    {0xf0000000u, 0xf0000000u}, /* 240.0.0.0/4 reserved, 255.255.255.255 */
  };
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
    if ((a & ranges[i].mask) == ranges[i].net) return true;
  return false;
}

bool netguard_blocked(const struct sockaddr *sa) {
  if (!sa) return true;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
    return v4_blocked(ntohl(in->sin_addr.s_addr));
  }
  if (sa->sa_family != AF_INET6) return true;
  const unsigned char *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static const unsigned char zero[12] = {0};
  if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 || memcmp(b, zero, 12) == 0) {
    /* IPv4 inside IPv6; ::/96 also holds :: and ::1 */
    uint32_t a = ((uint32_t)b[12] << 24) | ((uint32_t)b[13] << 16) | ((uint32_t)b[14] << 8) | b[15];
    return memcmp(b, zero, 12) == 0 ? true : v4_blocked(a);
  }
  if ((b[0] & 0xfe) == 0xfc) return true;                 /* fc00::/7 unique local */
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true; /* fe80::/10 link-local */
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true; /* fec0::/10 site-local (deprecated) */
  if (b[0] == 0xff) return true;                          /* ff00::/8 multicast */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true; /* 2001:db8::/32 docs */
  if (b[0] == 0x20 && b[1] == 0x02) {                     /* 2002::/16 6to4: the IPv4 inside */
    uint32_t a = ((uint32_t)b[2] << 24) | ((uint32_t)b[3] << 16) | ((uint32_t)b[4] << 8) | b[5];
    return v4_blocked(a);
  }
  return false;
}

bool netguard_url_blocked(const char *url, char *why, size_t len) {
  bool blocked = false;
  char *host = NULL;
  CURLU *u = curl_url();
  if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host) {
    curl_url_cleanup(u);
    return false; /* not a URL curl would send to: the syntax check answers */
  }
  char name[256];
  size_t n = strlen(host);
  if (n >= 2 && host[0] == '[' && host[n - 1] == ']') snprintf(name, sizeof name, "%.*s", (int)(n - 2), host + 1);
  else snprintf(name, sizeof name, "%s", host);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(name, NULL, &hints, &res) == 0) {
    for (struct addrinfo *ai = res; ai && !blocked; ai = ai->ai_next) {
      if (!netguard_blocked(ai->ai_addr)) continue;
      char addr[INET6_ADDRSTRLEN] = "?";
      const void *p = ai->ai_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
      inet_ntop(ai->ai_family, p, addr, sizeof addr);
      snprintf(why, len, "%s resolves to %s, a loopback, private, link-local or otherwise non-public address",
               name, addr);
      blocked = true;
    }
    freeaddrinfo(res);
  }
  curl_free(host);
  curl_url_cleanup(u);
  return blocked;
}
