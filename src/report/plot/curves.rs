//! Curves against a load: `eventsim capacity`'s latency and throughput
//! against the offered load (or a sized field's value), one line per
//! variant, the objective's bound as a dashed line and each variant's
//! answer (the knee) marked.

use super::*;

/// One variant's line: its label, its points (x, y) and the x of its
/// answer (the highest load within the objectives), if any.
pub struct CurveLine {
    /// The variant's label.
    pub label: String,
    /// (x, y) by x.
    pub points: Vec<(f64, f64)>,
    /// Where to mark the knee.
    pub knee: Option<f64>,
}

/// What a curve plot shows.
pub struct CurvePlot<'a> {
    /// The title.
    pub title: &'a str,
    /// The x axis.
    pub x_label: &'a str,
    /// The y axis.
    pub y_label: &'a str,
    /// The lines.
    pub lines: &'a [CurveLine],
    /// A bound to draw across (the objective), in y's unit.
    pub bound: Option<f64>,
}

/// Draw `plot` as a PNG and an SVG.
pub fn render_curves(plot: &CurvePlot) -> Result<Drawn, String> {
    draw_both(
        plot.title,
        |r| draw_curves(plot, r),
        |r| draw_curves(plot, r),
    )
}

fn draw_curves<DB: DrawingBackend>(
    plot: &CurvePlot,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let all = || plot.lines.iter().flat_map(|l| l.points.iter());
    let x_hi = all().map(|p| p.0).fold(0.0f64, f64::max).max(1e-9) * 1.05;
    let y_top = all().map(|p| p.1).chain(plot.bound).fold(0.0f64, f64::max);
    // Past the knee latency grows without bound (a backlog's age): the
    // axis stops at 5 times the objective, and what is above runs off it.
    let y_top = plot.bound.map_or(y_top, |b| y_top.min(5.0 * b));
    let y_hi = if y_top > 0.0 { y_top * 1.1 } else { 1.0 };
    let mut chart = ChartBuilder::on(root)
        .caption(printable(plot.title), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_hi, 0.0..y_hi)?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label)
        .y_desc(plot.y_label)
        .x_label_formatter(&|x| fmt_num(*x))
        .y_label_formatter(&|y| fmt_num(*y))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    if let Some(b) = plot.bound {
        let dashed = DashedLineSeries::new([(0.0, b), (x_hi, b)], 8, 5, BLACK.stroke_width(1));
        chart
            .draw_series(dashed)?
            .label("objective")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
    }
    // What runs off the axis is drawn at its top edge.
    let clamp = |&(x, y): &(f64, f64)| (x, y.min(y_hi));
    for (i, l) in plot.lines.iter().enumerate() {
        let color = line_color(i);
        chart
            .draw_series(LineSeries::new(
                l.points.iter().map(clamp),
                color.stroke_width(2),
            ))?
            .label(printable(&l.label).into_owned())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart
            .draw_series((l.points.iter().map(clamp)).map(|p| Circle::new(p, 3, color.filled())))?;
        if let Some(k) = l.knee {
            let mark = [(k, 0.0), (k, y_hi)];
            chart.draw_series(DashedLineSeries::new(mark, 4, 4, color.stroke_width(1)))?;
            let style = ("sans-serif", 13).into_font().color(&color);
            let at = (k, y_hi * (0.93 - 0.05 * i as f64));
            chart.draw_series(std::iter::once(Text::new(
                format!(" {}", fmt_num(k)),
                at,
                style,
            )))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()?;
    Ok(())
}
