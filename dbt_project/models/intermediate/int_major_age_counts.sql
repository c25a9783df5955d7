-- Age histogram per major: one row per (major, age) with the number of students.
-- The only read of stg_students the per-major marts need: at most (majors x distinct ages) rows,
-- from which counts, sums, min/max, the exact median and the age filter of
-- major_avg_age_over_20 are all derived cheaply.
--
-- Incremental, because `run --follow` rebuilds the marts after every increment and a full count
-- grows with the history (3M rows: 0.38 s a build): each build reads only the rows appended
-- since the last one it counted (warehouse_row, past counted_through) and adds them to their
-- (major, age). After a full refresh of the warehouse (another generation, see
-- macros/warehouse_generation.sql) the pre-hook forgets every count and all rows are counted
-- again, as with `dbt build --full-refresh`.
{{
    config(
        materialized='incremental',
        unique_key='major, age',
        pre_hook="{{ forget_counts_of_another_generation() }}"
    )
}}

with students as {% if counts_are_current() %}materialized {% endif %}(

    select warehouse_row, major, age
    from {{ ref('stg_students') }}
    {% if is_incremental() %}
    where warehouse_row > (select coalesce(max(counted_through), 0) from {{ this }})
    {% endif %}

),

counted as (

    select
        major,
        age,
        count(*) as student_count,
        max(warehouse_row) as counted_through
    from students
    -- rows without a major or an age cannot be placed; the stg_students tests fail on them
    where major is not null
      and age is not null
    group by major, age

),

{% if is_incremental() %}
with_earlier_counts as (

    -- the pairs counted before keep their students: the new rows add to them
    select
        counted.major,
        counted.age,
        counted.student_count + coalesce(earlier.student_count, 0) as student_count,
        counted.counted_through
    from counted
    left join {{ this }} as earlier
        on earlier.major = counted.major
       and earlier.age = counted.age

),
{% endif %}

final as (

    select
        major,
        age,
        student_count,
        counted_through,
        {{ warehouse_generation() }} as generation
    {% if is_incremental() %}
    from with_earlier_counts
    {% else %}
    from counted
    {% endif %}

)

select * from final
