-- Invariants of every row of major_age_stats: min <= median, avg <= max; stddev >= 0, and
-- stddev is null exactly when the major has a single student. Returns the offending rows.
select *
from {{ ref('major_age_stats') }}
where not (min_age <= avg_age and avg_age <= max_age)
   or not (min_age <= median_age and median_age <= max_age)
   or stddev_age < 0
   or (student_count = 1 and stddev_age is not null)
   or (student_count > 1 and stddev_age is null)
