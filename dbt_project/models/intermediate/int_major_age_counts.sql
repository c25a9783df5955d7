-- Age histogram per major: one row per (major, age) with the number of students.
-- The only full scan of stg_students the per-major marts need: at most
-- (majors x distinct ages) rows, from which counts, sums, min/max, the exact median and the
-- age filter of major_avg_age_over_20 are all derived cheaply.
with students as (

    select major, age
    from {{ ref('stg_students') }}
    -- rows without a major or an age cannot be placed; the stg_students tests fail on them
    where major is not null
      and age is not null

),

counted as (

    select
        major,
        age,
        count(*) as student_count
    from students
    group by major, age

)

select * from counted
