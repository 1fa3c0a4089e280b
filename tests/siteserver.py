"""A real HTTP server on 127.0.0.1 (a free port) serving a fixture clinic site and hostile cases.

Every request is logged with its host, path and the times it started and finished, so tests can
check what the crawler fetched, in what order, and how politely.
"""
from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAV = '<nav><a href="/">Home</a> <a href="/treatments">Treatments</a> <a href="/faq">FAQ</a></nav>'
FOOTER = ('<footer><p>Renewal Clinic. Satisfaction guaranteed on every stem cell package.</p>'
          '<p>Call us today for a free consultation.</p></footer>')


def page(title: str, body: str, extra_head: str = "") -> bytes:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{extra_head}</head>"
            f"<body><header>{NAV}</header><main>{body}</main>{FOOTER}</body></html>").encode("utf-8")


class Site:
    """Routes and state (hit counters) of one fixture server."""

    def __init__(self, robots: str = "User-agent: *\nDisallow: /private/\n"):
        self.robots = robots
        self.log: list[dict] = []
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.bomb = gzip.compress(b"\0" * (20 * 1024 * 1024), compresslevel=9)
        self.pages = {
            "/": page("Renewal Clinic", """
                <h1>Regenerative medicine that works</h1>
                <p>We offer umbilical cord stem cell injections. Our stem cells regenerate cartilage.</p>
                <p><a href="/treatments">Stem cell treatments</a> <a href="/conditions">Conditions we treat</a>
                <a href="/pricing">Pricing</a> <a href="/testimonials">Patient stories</a> <a href="/about">About</a>
                <a href="/private/notes">Staff notes</a> <a href="/calendar/2026/11">Events calendar</a>
                <a href="/brochure.pdf">Brochure (PDF)</a> <a href="/download">Download our guide</a>
                <a href="/list?a=1&b=2&c=3&d=4&e=5&f=6">Filtered list</a> <a href="/moved">Old page</a>
                <a href="mailto:info@clinic.example">Email</a> <a href="javascript:void(0)">Menu</a>
                <a href="http://localhost:{port}/offsite">Partner site</a> <a href="/faq#top">FAQ</a></p>"""),
            "/treatments": page("Treatments", "<h1>Treatments</h1><p>Our exosome therapy is FDA approved.</p>"
                                              "<p>The treatment is completely safe.</p>"),
            "/conditions": page("Conditions", "<h1>Conditions</h1><p>We treat osteoarthritis, multiple sclerosis, "
                                              "autism and COPD with our stem cell therapy.</p>"),
            "/pricing": page("Pricing", "<h1>Pricing</h1><p>Limited time offer: book this week and save $500.</p>"),
            "/testimonials": page("Stories", "<h1>Patient stories</h1><p>Read our patient success stories.</p>"),
            "/about": page("About", "<h1>About</h1><p>Founded in 2010 by Dr. Example.</p>"),
            "/faq": page("FAQ", "<h1>FAQ</h1><p>Is it painful? Most patients feel little discomfort.</p>"),
            "/treatments-new": page("Treatments (new)", "<p>A revolutionary approach to knee pain.</p>"),
            "/offsite": page("Partner", "<p>Off-site page: should never be fetched.</p>"),
        }

    def record(self, entry: dict):
        with self.lock:
            self.log.append(entry)
            self.hits[entry["path"]] = self.hits.get(entry["path"], 0) + 1
            return self.hits[entry["path"]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


def make_handler(site: Site):
    class Handler(_Handler):
        def do_GET(self):
            start = time.monotonic()
            path = self.path.split("#")[0]
            entry = {"host": self.headers.get("Host", ""), "path": path, "start": start,
                     "agent": self.headers.get("User-Agent", "")}
            n = site.record(entry)
            try:
                self.route(path.split("?")[0], n)
            except (BrokenPipeError, ConnectionResetError):
                entry["aborted"] = True
            finally:
                entry["end"] = time.monotonic()

        def route(self, path, n):
            port = self.server.server_address[1]
            if path == "/robots.txt":
                return self.send(200, site.robots.encode(), "text/plain")
            if path in site.pages:
                return self.send(200, site.pages[path].replace(b"{port}", str(port).encode()))
            if path == "/sitemap.xml":
                xml = (f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                       f'<url><loc>http://127.0.0.1:{port}/hidden-offer</loc></url>'
                       f'<url><loc>http://localhost:{port}/offsite</loc></url></urlset>')
                return self.send(200, xml.encode(), "application/xml")
            if path == "/hidden-offer":
                return self.send(200, page("Offer", "<p>Limited time offer: only 3 spots left this month!</p>"))
            if path == "/moved":
                return self.send(301, headers=[("Location", "/treatments-new")])
            if path == "/loop1":
                return self.send(302, headers=[("Location", "/loop2")])
            if path == "/loop2":
                return self.send(302, headers=[("Location", "/loop1")])
            if path == "/download":
                return self.send(200, b"%PDF-1.4 fake", "application/pdf")
            if path == "/huge":                         # 50 MB, chunked, no length announced
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"<p>" + b"x" * 65_000 + b"</p>"
                sent = 0
                while sent < 50 * 1024 * 1024:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                self.wfile.write(b"0\r\n\r\n")
                return
            if path == "/bomb":
                return self.send(200, site.bomb, headers=[("Content-Encoding", "gzip")])
            if path == "/drip":                          # one byte a second
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "60")
                self.end_headers()
                for _ in range(60):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(1)
                return
            if path == "/latin1":                        # says utf-8, is latin-1
                body = "<html><body><p>Caf\u00e9 Regenerativo. Satisfaction guaranteed.</p></body></html>"
                return self.send(200, body.encode("latin-1"), "text/html; charset=utf-8")
            if path == "/nocharset":                     # no charset header, a meta tag
                body = ("<html><head><meta charset='windows-1252'></head><body><p>\u201cMiracle\u201d "
                        "stem cells \u2013 a breakthrough.</p></body></html>")
                return self.send(200, body.encode("cp1252"), "text/html")
            if path == "/flaky429":
                if n == 1:
                    return self.send(429, b"slow down", "text/plain", [("Retry-After", "1")])
                return self.send(200, page("Flaky", "<p>Satisfaction guaranteed.</p>"))
            if path == "/flaky500":
                if n == 1:
                    return self.send(500, b"oops", "text/plain")
                return self.send(200, page("Flaky", "<p>Our exosome therapy is FDA approved.</p>"))
            if path.startswith("/calendar/"):
                y, m = (path.split("/") + ["2026", "1"])[2:4]
                nxt = f"/calendar/{y}/{int(m) % 12 + 1}"
                return self.send(200, page("Calendar", f'<a href="{nxt}">next month</a>'))
            if path == "/list":
                return self.send(200, page("List", '<a href="/list?a=1&b=2&c=3&d=4&e=5&f=6&g=7">more</a>'))
            return self.send(404, b"not found", "text/plain")

    return Handler


class FixtureServer:
    def __init__(self, site: Site | None = None):
        self.site = site or Site()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.site))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class SmallSite:
    """A generated clinic site: a home page and two linked pages, or a failure mode."""

    def __init__(self, n: int, mode: str = "ok"):
        self.n, self.mode = n, mode
        self.version = 1
        self.log: list[dict] = []
        self.lock = threading.Lock()

    def body(self, path: str) -> bytes | None:
        n = self.n
        if path == "/":
            claim = "We guarantee results for every knee." if self.version == 1 else "Our exosome therapy is FDA approved."
            return page(f"Clinic {n}", f"<h1>Clinic {n}</h1><p>{claim} We offer stem cell injections.</p>"
                                       f"<p>Call 555-{n:04d}.</p><a href='/a'>Treatments</a> <a href='/b'>FAQ</a>")
        if path == "/a":
            return page("Treatments", "<p>Stem cells can regenerate cartilage. A revolutionary approach.</p>")
        if path == "/b":
            return page("FAQ", "<p>Is it safe? Ask your doctor about risks and side effects.</p>")
        return None


def make_small_handler(site: SmallSite):
    class Handler(_Handler):
        def do_GET(self):
            path = self.path.split("?")[0]
            with site.lock:
                site.log.append({"path": path, "t": time.monotonic()})
            if path == "/robots.txt":
                return self.send(200, b"User-agent: *\nAllow: /\n", "text/plain")
            if site.mode == "404":
                return self.send(404, b"gone", "text/plain")
            if site.mode == "500":
                return self.send(500, b"broken", "text/plain")
            if site.mode == "loop":
                return self.send(302, headers=[("Location", "/" if path != "/" else "/x")])
            body = site.body(path)
            if body is None:
                return self.send(404, b"not found", "text/plain")
            return self.send(200, body)

    return Handler


class ManySites:
    """N small sites, each on its own loopback address (127.0.1.x or 127.0.2.x), so each is its
    own host for the crawler's politeness; some fail in different ways."""

    MODES = {3: "404", 5: "500", 7: "loop", 9: "refused"}

    def __init__(self, n: int):
        self.sites: list[SmallSite] = []
        self.servers = []
        self.urls: list[str] = []
        for i in range(n):
            mode = self.MODES.get(i % 10, "ok")
            site = SmallSite(i, mode)
            self.sites.append(site)
            ip = f"127.0.{1 + i // 250}.{1 + i % 250}"
            if mode == "refused":
                import socket
                s = socket.socket()
                s.bind((ip, 0))
                port = s.getsockname()[1]
                s.close()
                self.urls.append(f"http://{ip}:{port}/")
                continue
            httpd = ThreadingHTTPServer((ip, 0), make_small_handler(site))
            httpd.daemon_threads = True
            self.servers.append(httpd)
            self.urls.append(f"http://{ip}:{httpd.server_address[1]}/")

    def __enter__(self):
        for h in self.servers:
            threading.Thread(target=h.serve_forever, daemon=True, kwargs={"poll_interval": 0.2}).start()
        return self

    def __exit__(self, *exc):
        stoppers = [threading.Thread(target=h.shutdown) for h in self.servers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        for h in self.servers:
            h.server_close()
