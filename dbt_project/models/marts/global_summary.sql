-- One row: the headline figures of the warehouse.
-- Two global means on purpose (the original report printed the mean of the per-major means as
-- "âge moyen global"; the weighted mean is the true mean age of all students).
with students as (

    -- count(*) reads the smallest index; the ages come from the histogram, not from every row
    -- (the stg_students tests fail on a student without an age or a major, and
    -- assert_major_counts_sum_to_total on a histogram that misses one)
    select
        (select count(*) from {{ ref('stg_students') }}) as student_count,
        sum(student_count * age) * 1.0 / nullif(sum(student_count), 0) as avg_age_weighted
    from {{ ref('int_major_age_counts') }}

),

majors as (

    select
        count(*) as major_count,
        avg(avg_age) as avg_age_of_major_means
    from {{ ref('major_age_stats') }}

),

quarantine as (

    select count(*) as quarantine_count
    from {{ ref('stg_quarantine_students') }}

),

runs as (

    -- duplicates of the runs whose rows are in the warehouse now, whether Spark replaces the
    -- tables on each run or appends to them (exists stops at the first row of each run)
    select coalesce(sum(r.duplicates_removed), 0) as duplicates_removed
    from {{ ref('stg_pipeline_runs') }} as r
    where exists (select 1 from {{ ref('stg_students') }} as s where s.run_id = r.run_id)
       or exists (select 1 from {{ ref('stg_quarantine_students') }} as q where q.run_id = r.run_id)

),

last_run as (

    select run_id as last_run_id
    from {{ ref('stg_pipeline_runs') }}
    order by coalesce(finished_at, started_at) desc, started_at desc
    limit 1

),

final as (

    select
        majors.major_count,
        students.student_count,
        students.avg_age_weighted,
        majors.avg_age_of_major_means,
        quarantine.quarantine_count,
        case
            when students.student_count + quarantine.quarantine_count > 0
                then quarantine.quarantine_count * 1.0
                    / (students.student_count + quarantine.quarantine_count)
        end as quarantine_rate,
        runs.duplicates_removed,
        (select last_run_id from last_run) as last_run_id
    from students
    cross join majors
    cross join quarantine
    cross join runs

)

select * from final
