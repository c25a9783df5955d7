-- The per-major counts add up to the number of clean students, and global_summary agrees.
-- Returns one row describing the mismatch, or nothing.
with totals as (

    select
        (select count(*) from {{ ref('stg_students') }}) as staged_students,
        (select coalesce(sum(student_count), 0) from {{ ref('major_age_stats') }}) as sum_of_major_counts,
        (select count(*) from {{ ref('major_age_stats') }}) as major_rows,
        (select student_count from {{ ref('global_summary') }}) as summary_students,
        (select major_count from {{ ref('global_summary') }}) as summary_majors

)

select *
from totals
where staged_students <> sum_of_major_counts
   or summary_students <> sum_of_major_counts
   or summary_majors <> major_rows
