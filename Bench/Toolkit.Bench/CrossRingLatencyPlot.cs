using System.Globalization;
using System.Text;
using Row = System.Collections.Generic.Dictionary<string, string>;

namespace Toolkit.Bench;

/// <summary>
/// The latency CDFs of `bench cross-ring` as one SVG: a panel per compute slice of the single-shot recv workload
/// with the default source setup, a line per path, latency on a log axis. Plain SVG, no dependency.
/// </summary>
public static class CrossRingLatencyPlot
{
    /// <summary>
    /// The percentiles of the guest's `cdf_us` lists, in order (Bench/CrossRing.Bench, LatencyRun.Percentiles).
    /// </summary>
    public static readonly double[] Percentiles = [.. Enumerable.Range(0, 100).Select(i => (double)i), 99.5, 99.9];

    const int PanelW = 300, PanelH = 220, Left = 50, Top = 40, Gap = 30;
    const double MinUs = 10, MaxUs = 100_000;
    static readonly (string Path, string Colour)[] Lines =
        [("kernel", "#1f77b4"), ("msgring", "#ff7f0e"), ("eventfd", "#2ca02c")];

    public static string Svg(CrossRingLatencyResult r, string workload = "recv", string setup = "default")
    {
        var slices = r.Cases().Where(c => c.Setup == setup).Select(c => c.Slice).ToList();
        var width = Left + slices.Count * (PanelW + Gap);
        var s = new StringBuilder();
        s.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{Top + PanelH + 70}\" "))
            .Append("font-family=\"sans-serif\" font-size=\"11\">\n")
            .Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n")
            .Append(Inv($"<text x=\"{Left}\" y=\"18\" font-size=\"13\">Delivery latency CDF, {workload}, {setup} "))
            .Append("source setup (event to target reaping the CQE)</text>\n");
        for (var i = 0; i < slices.Count; i++)
            Panel(s, r, workload, setup, slices[i], Left + i * (PanelW + Gap));
        var lx = Left;
        foreach (var (path, colour) in Lines)
        {
            s.Append(Inv($"<line x1=\"{lx}\" y1=\"{Top + PanelH + 55}\" x2=\"{lx + 20}\" y2=\"{Top + PanelH + 55}\" "))
                .Append(Inv($"stroke=\"{colour}\" stroke-width=\"2\"/><text x=\"{lx + 25}\" y=\"{Top + PanelH + 59}\">"))
                .Append(path).Append("</text>\n");
            lx += 100;
        }
        return s.Append("</svg>\n").ToString();
    }

    static void Panel(StringBuilder s, CrossRingLatencyResult r, string workload, string setup, int slice, int x0)
    {
        var title = slice == 0 ? "idle source" : slice < 1000 ? $"{slice} us slices" : $"{slice / 1000} ms slices";
        s.Append(Inv($"<text x=\"{x0}\" y=\"{Top - 6}\">{title}</text>\n"))
            .Append(Inv($"<rect x=\"{x0}\" y=\"{Top}\" width=\"{PanelW}\" height=\"{PanelH}\" fill=\"none\" "))
            .Append("stroke=\"#999\"/>\n");
        for (var us = MinUs; us <= MaxUs; us *= 10)
        {
            var x = X(x0, us);
            s.Append(Inv($"<line x1=\"{x:F1}\" y1=\"{Top}\" x2=\"{x:F1}\" y2=\"{Top + PanelH}\" stroke=\"#eee\"/>"))
                .Append(Inv($"<text x=\"{x:F1}\" y=\"{Top + PanelH + 14}\" text-anchor=\"middle\">{Label(us)}</text>\n"));
        }
        foreach (var p in new[] { 0, 50, 90, 99, 99.9 })
            s.Append(Inv($"<text x=\"{x0 - 4}\" y=\"{Y(p) + 4:F1}\" text-anchor=\"end\">{p}%</text>\n"));
        foreach (var (path, colour) in Lines)
        {
            var m = r.Find(r.Latency, workload, setup, slice, path);
            if (m == null) continue;
            var values = m["cdf_us"].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToList();
            var points = values.Zip(Percentiles, (us, p) => Inv($"{X(x0, us):F1},{Y(p):F1}"));
            s.Append(Inv($"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\""))
                .Append(string.Join(' ', points)).Append("\"/>\n");
        }
    }

    /// <summary>Log latency axis, clamped to the panel.</summary>
    static double X(int x0, double us)
        => x0 + PanelW * (Math.Log10(Math.Clamp(us, MinUs, MaxUs)) - Math.Log10(MinUs)) / Math.Log10(MaxUs / MinUs);

    /// <summary>The percentile axis stretched towards the tail: -log10(1 - p) from 0 to 99.9%.</summary>
    static double Y(double percent)
    {
        var t = -Math.Log10(Math.Max(1 - percent / 100, 0.001)) / 3;
        return Top + PanelH * (1 - t);
    }

    static string Label(double us) => us >= 1000 ? Inv($"{us / 1000:0} ms") : Inv($"{us:0} us");

    static string Inv(FormattableString f) => f.ToString(CultureInfo.InvariantCulture);
}
