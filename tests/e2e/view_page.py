#!/usr/bin/env python3
"""Drives a `nomad view` page in headless Chromium as a user would and prints what it saw as
JSON, for tests/e2e/view.sh to judge: the console, the first frame, a screenshot's colours, a
wheel zoom, a drag, the hover box over a point, the search box and the `f` key.

    view_page.py BROWSER PAGE.html [--shot out.png] [--size 1000x700] [--search QUERY]... [--browser-arg ARG]...

The DevTools protocol runs over --remote-debugging-pipe (fds 3 and 4, messages ended by NUL),
so nothing beyond Python itself is needed; the input events are the browser's own (trusted),
not events the page makes up. WebGL runs on SwiftShader, Chromium's CPU renderer."""
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import zlib


class Browser:
    def __init__(self, exe, extra=()):
        self.profile = tempfile.mkdtemp(prefix="nomad-view-")
        to_browser, self.w = os.pipe()
        self.r, from_browser = os.pipe()
        # above 4, so that the redirections below cannot close what they are about to copy
        to_browser, from_browser = (self._high(fd) for fd in (to_browser, from_browser))
        args = [exe, "--headless", "--no-sandbox", "--remote-debugging-pipe", "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader", "--no-first-run", "--user-data-dir=" + self.profile, *extra, "about:blank"]
        # the browser reads commands on fd 3 and writes on fd 4
        shell = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-'
        self.proc = subprocess.Popen(["bash", "-c", shell] + args, pass_fds=(to_browser, from_browser),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser), os.close(from_browser)
        self.buf, self.next_id, self.events, self.session = bytearray(), 0, [], None

    @staticmethod
    def _high(fd):
        high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
        os.close(fd)
        return high

    def _message(self, deadline):
        while (end := self.buf.find(b"\0")) < 0:
            ready, _, _ = select.select([self.r], [], [], max(0.0, deadline - time.time()))
            if not ready:
                raise TimeoutError("no answer from the browser")
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise EOFError("the browser closed the pipe")
            self.buf += chunk
        message = json.loads(self.buf[:end])
        del self.buf[:end + 1]
        return message

    def call(self, method, params=None, timeout=120, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.w, data):]
        deadline = time.time() + timeout
        while True:
            m = self._message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            self.events.append(m)

    def wait_event(self, method, timeout=120):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._message(deadline))

    def js(self, expression, wait=False):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": wait})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def frames(self):
        """Returns once the page has drawn what its last input asked for."""
        self.js("new Promise(r => setTimeout(() => requestAnimationFrame(() => requestAnimationFrame(r)), 50))", True)

    def mouse(self, kind, x, y, **more):
        self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, **more})

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def png_pixels(png):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG, without a library."""
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = int.from_bytes(png[pos:pos + 4], "big"), png[pos + 4:pos + 8]
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big"), body[8], body[9]
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, rows, prev, stride = zlib.decompress(idat), [], bytearray(width * bpp), width * bpp
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def colours(png, left):
    """What the map area (right of x = left) of a screenshot shows: the share of pixels that
    are not the white background, and how many of 12 hue sectors hold >= 50 coloured pixels."""
    width, height, bpp, rows = png_pixels(png)
    painted, sectors, total = 0, [0] * 12, 0
    for line in rows:
        for x in range(left, width):
            r, g, b = line[x * bpp:x * bpp + 3]
            total += 1
            hi, lo = max(r, g, b), min(r, g, b)
            painted += hi - lo > 8 or hi < 245
            if hi - lo > 60:  # a colour, not a grey
                h = (g - b) / (hi - lo) % 6 if hi == r else (b - r) / (hi - lo) + 2 if hi == g else (r - g) / (hi - lo) + 4
                sectors[int(h * 2) % 12] += 1
    return {"painted": painted / max(1, total), "hues": sum(s >= 50 for s in sectors)}


def console(events):
    """The page's console messages and uncaught errors, each with its level."""
    out = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            out.append({"level": "error" if p.get("type") in ("error", "assert") else p.get("type"), "text": text})
        elif e.get("method") == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append({"level": "error", "text": d.get("exception", {}).get("description", d.get("text", ""))})
        elif e.get("method") == "Log.entryAdded":
            out.append({"level": p["entry"].get("level"), "text": p["entry"].get("text")})
    return out


def drive(b, url, width, height, shot, queries):
    out = {}
    target = b.call("Target.createTarget", {"url": "about:blank", "width": width, "height": height}, session=False)
    b.session = b.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, session=False)["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        b.call(domain + ".enable")
    b.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    start = time.time()
    b.call("Page.navigate", {"url": url})
    b.wait_event("Page.loadEventFired")
    said = "(m => m && !m.hidden ? m.textContent : null)(document.getElementById('message'))"
    while not b.js(f"document.body.dataset.firstFrameMs || {said}") and time.time() - start < 60:
        time.sleep(0.05)
    first, out["message"] = b.js("document.body.dataset.firstFrameMs"), b.js(said)
    out["first_frame_ms"] = float(first) if first else None
    if not first:
        return out
    out["timings"] = b.js("nomadMap.timings")
    out["n"] = b.js("nomadMap.n")
    panel = int(b.js("document.getElementById('panel').getBoundingClientRect().right")) + 4
    png = base64.b64decode(b.call("Page.captureScreenshot", {"format": "png"})["data"])
    if shot:
        open(shot, "wb").write(png)
    out["screenshot"] = colours(png, panel)

    # zoom: the wheel at a point of the map; that point must stay under the cursor
    x, y = (panel + width) // 2 + 17, height // 2 + 11
    before = b.js("nomadMap.state()")
    b.mouse("mouseWheel", x, y, deltaX=0, deltaY=-300)
    b.frames()
    after = b.js("nomadMap.state()")
    under = lambda s: (s["cx"] + (x - width / 2) / s["ppu"], s["cy"] - (y - height / 2) / s["ppu"])
    (u0, v0), (u1, v1) = under(before), under(after)
    out["zoom"] = {"factor": after["ppu"] / before["ppu"], "anchor_px": ((u1 - u0) ** 2 + (v1 - v0) ** 2) ** 0.5 * after["ppu"],
                   "size_before": before["pointSize"], "size_after": after["pointSize"]}

    # pan: a drag of (60, 40) pixels moves the map by as much
    b.mouse("mousePressed", x, y, button="left", buttons=1, clickCount=1)
    b.mouse("mouseMoved", x + 30, y + 20, button="left", buttons=1)
    b.mouse("mouseMoved", x + 60, y + 40, button="left", buttons=1)
    b.mouse("mouseReleased", x + 60, y + 40, button="left", buttons=0, clickCount=1)
    b.frames()
    moved = b.js("nomadMap.state()")
    out["pan_px"] = [(after["cx"] - moved["cx"]) * moved["ppu"], (moved["cy"] - after["cy"]) * moved["ppu"]]

    def press_f():  # back to the fitted view
        for kind in ("keyDown", "keyUp"):
            b.call("Input.dispatchKeyEvent", {"type": kind, "key": "f", "code": "KeyF", "text": "f", "windowsVirtualKeyCode": 70})
        b.frames()

    # hover: the cursor on the pixel of a point; the box must name the nearest point. A layout of
    # a few tight clusters (t-SNE's) can leave only empty space in view after the zoom and pan:
    # then the hover is tried at the fitted view.
    point = b.js("nomadMap.pointOnScreen()")
    if not point:
        press_f()
        point = b.js("nomadMap.pointOnScreen()")
        out["hover_at_fitted_view"] = True
    if point:
        cx, cy = round(point["x"]), round(point["y"])
        b.mouse("mouseMoved", cx, cy)
        b.frames()
        h = b.js("nomadMap.state().hovered")
        dist = lambda i: (lambda p: ((p[0] - cx) ** 2 + (p[1] - cy) ** 2) ** 0.5)(b.js(f"nomadMap.screenOf({i})"))
        out["hover"] = {"point": point["i"], "index": h, "shown": not b.js("document.getElementById('tip').hidden"),
                        "head": b.js("document.getElementById('tip-head').textContent"),
                        "text": b.js("document.getElementById('tip-text').textContent"),
                        "dist_px": dist(h) if h is not None and h >= 0 else None, "point_dist_px": dist(point["i"])}
        hover_shot = base64.b64decode(b.call("Page.captureScreenshot", {"format": "png"})["data"])
        if shot:
            open(shot.replace(".png", "_hover.png"), "wb").write(hover_shot)
    if out.get("hover_at_fitted_view"):  # zoomed again, so that `f` below has something to undo
        b.mouse("mouseWheel", x, y, deltaX=0, deltaY=-300)
        b.frames()
    out["grid_mismatches"] = b.js("nomadMap.gridCheck(300)")
    out["frame_ms"] = b.js("nomadMap.timeFrame()", True)

    # search: typed into the box
    def search(text):
        b.js("(s => { s.value = ''; s.focus(); })(document.getElementById('search'))")
        b.call("Input.insertText", {"text": text})
        b.js("new Promise(r => setTimeout(r, 600))", True)
        b.frames()
        return b.js("document.getElementById('found').textContent")
    out["search"] = {}
    for query in queries:
        out["search"][query] = search(query)
    b.js("document.getElementById('search').blur()")

    # f: back to the fitted view
    press_f()
    fitted = b.js("nomadMap.state()")
    out["fit_key"] = fitted["ppu"] / fitted["fitPpu"]
    return out


def main():
    args = sys.argv[1:]
    exe, page = args[0], os.path.abspath(args[1])
    shot = args[args.index("--shot") + 1] if "--shot" in args else None
    width, height = map(int, (args[args.index("--size") + 1] if "--size" in args else "1000x700").split("x"))
    queries = [args[i + 1] for i, a in enumerate(args) if a == "--search"]
    b = Browser(exe, [args[i + 1] for i, a in enumerate(args) if a == "--browser-arg"])
    try:
        out = drive(b, "file://" + page, width, height, shot, queries)
    except Exception as e:  # reported, so the test names what went wrong
        out = {"driver_error": f"{type(e).__name__}: {e}"}
    out["console"] = console(b.events)
    b.close()
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
