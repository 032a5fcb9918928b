// Maintenance background workers: a launcher that starts one worker per
// database, and the per-database worker that calls intentlog.maintain()
// (promote staged hot tables, rotate segments, apply retention, record crash
// gaps) every intentlog.maintenance_naptime while the server runs.
#pragma once

namespace intentlog::pg {

void define_maintenance_gucs();
void register_maintenance_launcher();

}  // namespace intentlog::pg
