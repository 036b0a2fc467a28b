/* service/netguard.c: which addresses a webhook may not reach (SSRF). */
#include "tests/unit/unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

#include "service/netguard.h"

/* Whether the numeric address text (IPv4 or IPv6) is blocked. */
static bool blocked(const char *text) {
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  memset(&in, 0, sizeof in);
  memset(&in6, 0, sizeof in6);
  if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
    in.sin_family = AF_INET;
    return netguard_blocked((const struct sockaddr *)&in);
  }
  if (inet_pton(AF_INET6, text, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    return netguard_blocked((const struct sockaddr *)&in6);
  }
  fail_msg("not an address: %s", text);
  return false;
}

static void ipv4(void **state) {
  (void)state;
  EXPECT_ALL(blocked, true, "0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
             "127.0.0.1", "127.255.0.9", "169.254.169.254", "172.16.0.1", "172.31.255.255", "192.0.0.8",
             "192.0.2.1", "192.168.0.1", "198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9",
             "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255");
  EXPECT_ALL(blocked, false, "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.1", "100.63.255.255", "100.128.0.1",
             "126.255.255.255", "128.0.0.1", "169.253.0.1", "172.15.255.255", "172.32.0.1", "192.167.1.1",
             "192.169.0.1", "198.17.255.255", "198.20.0.1", "93.184.216.34", "223.255.255.255");
}

static void ipv6(void **state) {
  (void)state;
  EXPECT_ALL(blocked, true, "::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1",
             "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "64:ff9b::7f00:1",
             "2002:7f00:1::1", "2002:a00:1::", "::127.0.0.1");
  EXPECT_ALL(blocked, false, "2a00:1450:4001::1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
             "2002:808:808::1", "2001:4860::8888");
}

static void other_families(void **state) {
  (void)state;
  struct sockaddr sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_family = AF_UNIX;
  assert_true(netguard_blocked(&sa));
  assert_true(netguard_blocked(NULL));
}

static void urls(void **state) {
  (void)state;
  char why[300] = "";
  assert_true(netguard_url_blocked("http://127.0.0.1:8080/x", why, sizeof why));
  assert_non_null(strstr(why, "127.0.0.1"));
  assert_true(netguard_url_blocked("http://[::1]/x", why, sizeof why));
  assert_true(netguard_url_blocked("https://169.254.169.254/latest/meta-data", why, sizeof why));
  assert_true(netguard_url_blocked("http://2130706433/", why, sizeof why));   /* 127.0.0.1 as one number */
  assert_true(netguard_url_blocked("http://0x7f.1/", why, sizeof why));       /* and in hex */
  assert_true(netguard_url_blocked("http://localhost/", why, sizeof why));
  assert_false(netguard_url_blocked("https://93.184.216.34/hooks", why, sizeof why));
  assert_false(netguard_url_blocked("https://[2606:4700::1111]/hooks", why, sizeof why));
  /* not a URL curl would send to: left to the syntax check */
  assert_false(netguard_url_blocked("not a url", why, sizeof why));
  assert_false(netguard_url_blocked("", why, sizeof why));
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(ipv4), cmocka_unit_test(ipv6),
                                     cmocka_unit_test(other_families), cmocka_unit_test(urls)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
